//! Problems found in a policy, each pinned to a file, line, column and field path.
//!
//! One type serves errors and warnings so the CLI prints both the same way, and so a
//! validation pass can collect every problem instead of stopping at the first.

use std::fmt;

use serde::Serialize;

/// One thing wrong (or questionable) in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Path of the file as the user named it (or an origin label like `<default>`).
    pub file: String,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// 1-based column of the offending value, when known.
    pub column: Option<usize>,
    /// Dotted field path, e.g. `network_policies.github.endpoints[1].port`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Problem {
    /// A problem with no location yet (filled in later by the loader).
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: String::new(),
            line: None,
            column: None,
            field: field.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds the fix the user should apply.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Pins the problem to a 1-based line and column.
    pub(crate) fn at(mut self, location: Option<(usize, usize)>) -> Self {
        if let Some((line, column)) = location {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }
}

impl fmt::Display for Problem {
    /// `FILE:LINE:COL: `FIELD`: MESSAGE (fix: HINT)` — the shape compilers use, so
    /// editors and terminals turn it into a link.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "`{}`: ", self.field)?;
        }
        f.write_str(&elide(&self.message))?;
        if let Some(hint) = &self.hint {
            write!(f, " (fix: {})", elide(hint))?;
        }
        Ok(())
    }
}

/// Longest message or hint printed whole; past it the middle is elided, so a
/// megabyte-long value quoted in a message does not flood the terminal.
const MAX_SHOWN_CHARS: usize = 400;

fn elide(text: &str) -> std::borrow::Cow<'_, str> {
    let count = text.chars().count();
    if count <= MAX_SHOWN_CHARS {
        return std::borrow::Cow::Borrowed(text);
    }
    let keep = MAX_SHOWN_CHARS / 2;
    let head: String = text.chars().take(keep).collect();
    let tail: String = text.chars().skip(count - keep).collect();
    std::borrow::Cow::Owned(format!(
        "{head}...({} characters elided)...{tail}",
        count - 2 * keep
    ))
}

/// A policy that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// Every problem, in file order; never empty.
    pub problems: Vec<Problem>,
}

impl PolicyError {
    /// Wraps a single problem.
    pub(crate) fn single(problem: Problem) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

impl fmt::Display for PolicyError {
    /// Every problem, one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
