//! [`SecretValue`]: a real credential in memory. Its `Debug` never shows the value, its
//! memory is zeroed on drop, and reading it takes a call named `expose_secret` so every
//! use is easy to find in review. [`Fingerprint`] is what may be shown instead.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::SecretsError;

/// Hex characters of the SHA-256 kept in a fingerprint: 48 bits tell two keys apart
/// at a glance and reveal nothing usable about a high-entropy API key.
const FINGERPRINT_HEX_CHARS: usize = 12;

/// Longest accepted secret. Real API keys are < 1 KiB; the bound keeps a mistaken
/// `--key-file` (a whole log file) from being stored as a "key".
pub const MAX_SECRET_BYTES: usize = 16 * 1024;

/// A credential value. Cloning copies into a new zeroize-on-drop allocation.
#[derive(Clone)]
pub struct SecretValue {
    inner: SecretString,
}

impl SecretValue {
    /// Wraps `value` after checking it can travel in an HTTP header: non-empty, at most
    /// [`MAX_SECRET_BYTES`], visible ASCII or space/tab only (no CR/LF that would split a
    /// header, no control bytes). One trailing newline (as written by `echo KEY > file`)
    /// is removed first; surrounding spaces are trimmed.
    pub fn new(value: String) -> Result<SecretValue, SecretsError> {
        let inner = SecretString::from(value);
        let trimmed = inner.expose_secret().trim_matches([' ', '\t', '\r', '\n']);
        if trimmed.is_empty() {
            return Err(SecretsError::InvalidSecret("it is empty"));
        }
        if trimmed.len() > MAX_SECRET_BYTES {
            return Err(SecretsError::InvalidSecret("it is longer than 16 KiB"));
        }
        if !trimmed
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(SecretsError::InvalidSecret(
                "it contains line breaks, control or non-ASCII characters",
            ));
        }
        Ok(SecretValue {
            inner: SecretString::from(trimmed),
        })
    }

    /// The real value. Call it only where the value leaves for its rightful
    /// destination (an upstream request header) or the credential file.
    pub fn expose_secret(&self) -> &str {
        self.inner.expose_secret()
    }

    /// A short, non-reversible identifier safe to print and log.
    pub fn fingerprint(&self) -> Fingerprint {
        let digest = Sha256::digest(self.inner.expose_secret().as_bytes());
        let mut hex = hex::encode(digest);
        hex.truncate(FINGERPRINT_HEX_CHARS);
        Fingerprint(format!("sha256:{hex}"))
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue({} [REDACTED])", self.fingerprint())
    }
}

/// `sha256:` and the first hex characters of the value's SHA-256: what `provider list`
/// shows so an operator can tell which key is stored without seeing it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The printable form, e.g. `sha256:1f2e3d4c5b6a`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_fingerprint_never_show_the_value() {
        let value = SecretValue::new("sk-unique-test-value-123456".into()).unwrap();
        let debug = format!("{value:?}");
        assert!(!debug.contains("unique-test-value"), "{debug}");
        let fp = value.fingerprint();
        assert!(fp.as_str().starts_with("sha256:"));
        assert_eq!(fp.as_str().len(), "sha256:".len() + FINGERPRINT_HEX_CHARS);
        assert!(!fp.as_str().contains("unique"));
    }

    #[test]
    fn trailing_newline_is_trimmed_and_breaks_inside_are_refused() {
        let value = SecretValue::new("key-abc\n".into()).unwrap();
        assert_eq!(value.expose_secret(), "key-abc");
        assert!(SecretValue::new("a\nb".into()).is_err());
        assert!(SecretValue::new("a\u{7f}b".into()).is_err());
        assert!(SecretValue::new("  \n".into()).is_err());
        assert!(SecretValue::new("ключ".into()).is_err());
    }

    #[test]
    fn same_value_same_fingerprint() {
        let a = SecretValue::new("one".into()).unwrap();
        let b = SecretValue::new("one\n".into()).unwrap();
        let c = SecretValue::new("two".into()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}
