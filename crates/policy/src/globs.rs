//! The three glob dialects of a policy, compiled with globset.
//!
//! - L7 request paths: `*` and `**` may cross `/` (the Foundation issue's rule, and
//!   OpenShell's original Rego `glob.match` with no delimiter), `?` one character,
//!   `[...]` classes.
//! - Binary paths: `*` stays within one path component, `**` crosses components.
//! - Query values: `.` is the separator (OpenShell's rule: `v1.*` matches `v1.2`, not
//!   `v1.2.3`). globset only knows `/` as a separator, so pattern and value both have
//!   `.` and `/` swapped — a bijection, so every other glob feature keeps its meaning.
//!
//! Validation compiles every glob once; the engine compiles them again per policy
//! generation (never per decision).

use globset::{Candidate, Glob, GlobBuilder, GlobMatcher};

/// Compiles an L7 path glob (`*`/`**` cross `/`).
pub(crate) fn path(pattern: &str) -> Result<GlobMatcher, String> {
    build(pattern, false)
}

/// Validates a binary path glob (`*` within a component, `**` across).
pub(crate) fn binary(pattern: &str) -> Result<(), String> {
    binary_glob(pattern).map(|_| ())
}

/// A binary path glob, for an entry's `GlobSet`.
pub(crate) fn binary_glob(pattern: &str) -> Result<Glob, String> {
    glob(pattern, true)
}

/// Compiles a query value glob with `.` as the separator.
pub(crate) fn query(pattern: &str) -> Result<GlobMatcher, String> {
    let swapped: String = pattern.chars().map(swap_char).collect();
    build(&swapped, true)
}

/// Whether a query value (already percent-decoded, `.`/`/` swapped by the caller
/// with [`swap_byte`]) matches.
pub(crate) fn is_match_bytes(matcher: &GlobMatcher, value: &[u8]) -> bool {
    matcher.is_match_candidate(&Candidate::from_bytes(value))
}

/// The `.` ↔ `/` swap applied to query values before matching.
pub(crate) fn swap_byte(b: u8) -> u8 {
    match b {
        b'.' => b'/',
        b'/' => b'.',
        other => other,
    }
}

fn swap_char(c: char) -> char {
    match c {
        '.' => '/',
        '/' => '.',
        other => other,
    }
}

fn build(pattern: &str, literal_separator: bool) -> Result<GlobMatcher, String> {
    glob(pattern, literal_separator).map(|glob| glob.compile_matcher())
}

fn glob(pattern: &str, literal_separator: bool) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(literal_separator)
        .backslash_escape(true)
        .build()
        .map_err(|err| err.kind().to_string())
}

/// The endpoint `path` selector: picks among inspected endpoints on one host and port.
///
/// An empty path, `**` or `/**` matches every path; `P/**` matches `P` itself and
/// everything under it; any other pattern is an L7 path glob.
#[derive(Debug, Clone)]
pub(crate) struct PathSelector {
    /// `None` = matches every path.
    matcher: Option<GlobMatcher>,
    /// For `P/**`: the bare `P`, which also matches.
    base: Option<String>,
    /// Literal characters before the first wildcard: longer = more specific.
    pub(crate) specificity: usize,
}

impl PathSelector {
    /// Compiles a selector (validated to start with `/` or be `**`).
    pub(crate) fn new(pattern: &str) -> Result<PathSelector, String> {
        if pattern.is_empty() || pattern == "**" || pattern == "/**" {
            return Ok(PathSelector {
                matcher: None,
                base: None,
                specificity: 0,
            });
        }
        let base = pattern.strip_suffix("/**").map(str::to_owned);
        Ok(PathSelector {
            matcher: Some(path(pattern)?),
            base,
            specificity: pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len()),
        })
    }

    /// Whether a (decoded) request path falls under this selector.
    pub(crate) fn matches(&self, request_path: &[u8]) -> bool {
        match &self.matcher {
            None => true,
            Some(matcher) => {
                self.base.as_deref().map(str::as_bytes) == Some(request_path)
                    || matcher.is_match_candidate(&Candidate::from_bytes(request_path))
            }
        }
    }
}
