//! YAML text to [`RawPolicy`], turning every parser or shape error into a [`Problem`]
//! with file, line, column, field path and a fix.
//!
//! serde-saphyr reports the position, serde_path_to_error the field path; unknown
//! fields get a "did you mean" from strsim over the fields serde says it expected.

use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};

use crate::error::{PolicyError, Problem};
use crate::raw::RawPolicy;

/// Parses `source` into the raw schema, or returns the one problem that stopped it
/// (shape errors end deserialisation, so there is only ever one at this stage).
pub(crate) fn parse_raw(source: &str) -> Result<RawPolicy, PolicyError> {
    let mut path_error: Option<serde_path_to_error::Error<serde_saphyr::Error>> = None;
    let result = serde_saphyr::with_deserializer_from_str(source, |deserializer| {
        match serde_path_to_error::deserialize::<_, RawPolicy>(deserializer) {
            Ok(raw) => Ok(Some(raw)),
            Err(err) => {
                path_error = Some(err);
                Ok(None)
            }
        }
    });
    match (result, path_error) {
        (Ok(Some(raw)), _) => Ok(raw),
        (_, Some(err)) => {
            let field = field_path(err.path());
            Err(PolicyError::single(problem_from(err.inner(), field)))
        }
        (Err(err), None) => Err(PolicyError::single(problem_from(&err, String::new()))),
        (Ok(None), None) => Err(PolicyError::single(Problem::new(
            "",
            "the policy could not be parsed",
        ))),
    }
}

/// Renders serde_path_to_error's path as `a.b[1].c`, dropping the `value` segment
/// that every `Spanned<T>` wrapper adds (no schema field is called `value`; only the
/// user-chosen keys right after `network_policies` and `query` may be).
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut previous = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                let user_key = previous == "network_policies" || previous == "query";
                if key == "value" && !user_key {
                    previous = String::new();
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
                previous = key.clone();
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn problem_from(err: &serde_saphyr::Error, field: String) -> Problem {
    use serde_saphyr::Error as E;
    let bare = err.without_snippet();
    let location = bare.location().and_then(|location| {
        let line = usize::try_from(location.line()).ok()?;
        let column = usize::try_from(location.column()).ok()?;
        (line > 0).then_some((line, column))
    });
    let message = DefaultMessageFormatter.format_message(bare).into_owned();
    let problem = match bare {
        E::SerdeUnknownField {
            field: name,
            expected,
            ..
        } => {
            let field = if field.ends_with(name.as_str()) {
                field
            } else {
                join(&field, name)
            };
            let hint = suggestion(name, expected).map_or_else(
                || format!("remove it; fields allowed here: {}", quote_all(expected)),
                |close| format!("did you mean `{close}`?"),
            );
            Problem::new(field, format!("unknown field `{name}`")).hint(hint)
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let hint = suggestion(variant, expected).map_or_else(
                || format!("use one of {}", quote_all(expected)),
                |close| format!("did you mean `{close}`?"),
            );
            Problem::new(field, format!("unknown value `{variant}`")).hint(hint)
        }
        E::SerdeMissingField { field: name, .. } => {
            Problem::new(field, format!("missing field `{name}`")).hint(format!("add `{name}`"))
        }
        E::DuplicateMappingKey { key, .. } => {
            let field = match key {
                Some(key) if !field.ends_with(key.as_str()) => join(&field, key),
                _ => field,
            };
            Problem::new(
                field,
                message.replace(", set DuplicateKeyPolicy in Options if acceptable", ""),
            )
            .hint("keep only one of the repeated keys")
        }
        E::SerdeInvalidType { .. } | E::SerdeInvalidValue { .. } | E::SerdeInvalidLength { .. } => {
            Problem::new(field, message)
                .hint("write the value in the form this field expects (see docs/policy.md)")
        }
        E::Unexpected { expected, .. } => wrong_shape(field, expected),
        E::InvalidScalar { ty, .. } => Problem::new(
            field,
            format!("this value is not {}", scalar_name(ty)),
        )
        .hint("write the value in the form this field expects (see docs/policy.md)"),
        E::MultipleDocuments { .. } => Problem::new(
            field,
            "the file holds more than one YAML document (a second `---`)",
        )
        .hint("keep one policy per file: remove the second `---` and what follows, or split the file"),
        E::Budget { .. } => Problem::new(
            field,
            format!("the policy is too large or too deeply nested for the YAML parser's limits ({message})"),
        )
        .hint("is this the policy file? Use fewer, broader entries (wildcard hosts, path globs)"),
        _ if message.contains("recursion limit") => Problem::new(
            field,
            "the YAML is nested too deeply",
        )
        .hint("is this the policy file? Policies nest at most a few levels"),
        _ => Problem::new(field, format!("YAML syntax error: {message}")).hint(
            "fix the YAML at or just before this position (unclosed `{`, `[` or quote? wrong indentation?)",
        ),
    };
    problem.at(location)
}

/// A value of the wrong kind where a list or a mapping belongs (`read_only: /usr`).
fn wrong_shape(field: String, expected: &str) -> Problem {
    let (what, example) = if expected.contains("sequence") {
        ("a list", "write a list: `[a, b]`, or one `- item` per line")
    } else if expected.contains("mapping") {
        (
            "a mapping",
            "write `key: value` pairs, indented below the field",
        )
    } else {
        (
            expected,
            "write the value in the form this field expects (see docs/policy.md)",
        )
    };
    if field.is_empty() {
        return Problem::new(
            field,
            format!("the policy must be a YAML mapping, but the document is not {what}"),
        )
        .hint("start the file with `version: 1` and the policy's sections below it");
    }
    Problem::new(field, format!("expected {what} here")).hint(example)
}

/// Names the YAML scalar a Rust type expects, in the user's words.
fn scalar_name(ty: &str) -> String {
    match ty {
        "bool" => "`true` or `false`".to_owned(),
        t if t.starts_with('i') || t.starts_with('u') => "a whole number (in range)".to_owned(),
        t if t.starts_with('f') => "a number".to_owned(),
        t => format!("a valid {t}"),
    }
}

/// The closest expected name, if it is close enough to be a typo.
pub(crate) fn suggestion(name: &str, expected: &[&str]) -> Option<String> {
    // Case-blind: `protocol: REST` is a typo of `rest`.
    let name = name.to_lowercase();
    expected
        .iter()
        .map(|candidate| {
            let score = strsim::jaro_winkler(&name, &candidate.to_lowercase());
            (score, candidate)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| (*candidate).to_owned())
}

fn quote_all(names: &[&str]) -> String {
    if names.is_empty() {
        return "(none)".to_owned();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}
