//! Request paths as the policy sees them and as the upstream receives them.
//!
//! The danger is divergence: a rule is checked against one reading of the path and
//! the server acts on another (`/public/%2e%2e/admin`, `/public/..;/admin` on
//! Tomcat-class servers, `\` as a separator on IIS-class servers, double-encoded
//! `%252e`). Rather than guess how each server normalises, the proxy refuses every
//! form whose meaning servers disagree on, and forwards exactly the path it judged.
//! The one rewrite is collapsing repeated slashes (`//`), which sloppy URL joining
//! produces all the time and every server treats as one.
//!
//! The policy engine percent-decodes the returned path itself for matching (and
//! repeats the encoded-slash and dot-segment checks); this module is the part that
//! needs the raw bytes.

use std::borrow::Cow;

/// Longest path accepted, in bytes as sent (the policy engine's own limit).
pub const MAX_PATH_BYTES: usize = 4096;

/// Why a request path was refused. Every reason is a 403 with the reason in the
/// body and the audit line; audit mode does not relax them (they are not policy
/// choices but ambiguities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// Not origin-form (`*`, an authority, a relative path).
    #[error("the request target is not a path starting with `/`")]
    NotOriginForm,
    /// Longer than [`MAX_PATH_BYTES`].
    #[error("the request path is longer than 4096 bytes")]
    TooLong,
    /// Raw control, space, non-ASCII, `#` or `\` bytes.
    #[error("the request path contains a control, non-ASCII, `#` or `\\` character")]
    BadByte,
    /// `%` not followed by two hex digits.
    #[error("the request path has a malformed percent-escape")]
    BadEscape,
    /// `%2F` inside a segment.
    #[error("encoded slash (%2F) in the path; the endpoint does not set allow_encoded_slash")]
    EncodedSlash,
    /// `%5C`, `%00`..`%1F`, `%7F`.
    #[error("the request path encodes a backslash or control character")]
    EncodedControl,
    /// `%25` encoding `%`, `.`, `/` or `\` again (double encoding).
    #[error("the request path is double-encoded (%25 followed by an escape of %, ., / or \\)")]
    DoubleEncoded,
    /// A `.` or `..` segment, encoded or not, with or without `;parameters`.
    #[error("the request path contains a `.` or `..` segment")]
    DotSegment,
}

/// Checks a raw request path (no query) and returns the form to match and forward:
/// the same bytes, with runs of `/` collapsed to one.
pub fn canonical_path(raw: &str, allow_encoded_slash: bool) -> Result<Cow<'_, str>, PathRefusal> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathRefusal::NotOriginForm);
    }
    if bytes.len() > MAX_PATH_BYTES {
        return Err(PathRefusal::TooLong);
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let value = hex_pair(bytes.get(i + 1..i + 3)).ok_or(PathRefusal::BadEscape)?;
                match value {
                    b'/' if !allow_encoded_slash => return Err(PathRefusal::EncodedSlash),
                    b'\\' | 0x00..=0x1f | 0x7f => return Err(PathRefusal::EncodedControl),
                    b'%' => {
                        let inner = hex_pair(bytes.get(i + 3..i + 5));
                        if matches!(inner, Some(b'%' | b'.' | b'/' | b'\\')) {
                            return Err(PathRefusal::DoubleEncoded);
                        }
                    }
                    _ => {}
                }
                i += 3;
            }
            b'#' | b'\\' | 0x00..=0x20 | 0x7f..=0xff => return Err(PathRefusal::BadByte),
            _ => i += 1,
        }
    }
    // With encoded slashes allowed, a server that decodes them before routing sees
    // more segments than we do: check those too.
    let unescaped;
    let segments_of = if allow_encoded_slash && raw.contains('%') {
        unescaped = raw.replace("%2F", "/").replace("%2f", "/");
        unescaped.as_str()
    } else {
        raw
    };
    if segments_of.split('/').any(is_dot_segment) {
        return Err(PathRefusal::DotSegment);
    }
    if !raw.contains("//") {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut previous_slash = false;
    for c in raw.chars() {
        if c == '/' && previous_slash {
            continue;
        }
        previous_slash = c == '/';
        out.push(c);
    }
    Ok(Cow::Owned(out))
}

/// `.` or `..`, percent-encoded or not, ignoring `;parameters` (servers that strip
/// parameters would otherwise turn `..;` back into `..`).
fn is_dot_segment(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or_default();
    let mut dots = 0;
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'.' {
            i += 1;
        } else if bytes[i] == b'%' && hex_pair(bytes.get(i + 1..i + 3)) == Some(b'.') {
            i += 3;
        } else {
            return false;
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let digit = |b: u8| char::from(b).to_digit(16);
    u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        canonical_path(raw, false).unwrap().into_owned()
    }

    fn refused(raw: &str) -> PathRefusal {
        canonical_path(raw, false).unwrap_err()
    }

    #[test]
    fn ordinary_paths_pass_unchanged() {
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/repos/a/b"), "/repos/a/b");
        assert_eq!(ok("/repos/a/b/"), "/repos/a/b/");
        assert_eq!(ok("/v1/chat%20x"), "/v1/chat%20x");
        assert_eq!(ok("/a/.well-known/x"), "/a/.well-known/x");
        assert_eq!(ok("/a/..."), "/a/...");
        assert_eq!(ok("/a;v=1/b"), "/a;v=1/b");
        assert_eq!(ok("/%7Euser"), "/%7Euser");
        assert!(matches!(canonical_path("/x", false), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn repeated_slashes_collapse() {
        assert_eq!(ok("//repos//a///b"), "/repos/a/b");
        assert_eq!(ok("/a//"), "/a/");
    }

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        for raw in [
            "/a/../b",
            "/a/./b",
            "/..",
            "/a/%2e%2e/b",
            "/a/%2E./b",
            "/a/.%2e",
            "/a/..;/b",
            "/a/.;x/b",
            "/a/..",
        ] {
            assert_eq!(refused(raw), PathRefusal::DotSegment, "{raw}");
        }
    }

    #[test]
    fn encoded_slash_needs_the_endpoint_opt_in() {
        assert_eq!(refused("/repos/a%2Fb"), PathRefusal::EncodedSlash);
        assert_eq!(refused("/repos/a%2fb"), PathRefusal::EncodedSlash);
        assert_eq!(
            canonical_path("/repos/a%2Fb", true).unwrap(),
            "/repos/a%2Fb"
        );
        // Allowing encoded slashes does not let `..` hide behind them.
        assert_eq!(
            canonical_path("/a/%2e%2e%2Fb", true).unwrap_err(),
            PathRefusal::DotSegment
        );
        assert_eq!(
            canonical_path("/a/b%2f..", true).unwrap_err(),
            PathRefusal::DotSegment
        );
    }

    #[test]
    fn ambiguous_bytes_and_escapes_are_refused() {
        assert_eq!(refused("/a\\b"), PathRefusal::BadByte);
        assert_eq!(refused("/a%5Cb"), PathRefusal::EncodedControl);
        assert_eq!(refused("/a%00b"), PathRefusal::EncodedControl);
        assert_eq!(refused("/a%0d%0ab"), PathRefusal::EncodedControl);
        assert_eq!(refused("/a#frag"), PathRefusal::BadByte);
        assert_eq!(refused("/a b"), PathRefusal::BadByte);
        assert_eq!(refused("/caf\u{e9}"), PathRefusal::BadByte);
        assert_eq!(refused("/a%2"), PathRefusal::BadEscape);
        assert_eq!(refused("/a%zz"), PathRefusal::BadEscape);
        assert_eq!(refused("/a/%252e%252e/b"), PathRefusal::DoubleEncoded);
        assert_eq!(refused("/a%252Fb"), PathRefusal::DoubleEncoded);
        assert_eq!(
            ok("/a%2541"),
            "/a%2541",
            "a literal %41 text is not an attack"
        );
    }

    #[test]
    fn only_origin_form_is_a_path() {
        assert_eq!(refused("*"), PathRefusal::NotOriginForm);
        assert_eq!(refused("example.com:443"), PathRefusal::NotOriginForm);
        assert_eq!(refused(""), PathRefusal::NotOriginForm);
        assert_eq!(
            refused(&format!("/{}", "a".repeat(MAX_PATH_BYTES))),
            PathRefusal::TooLong
        );
    }
}
