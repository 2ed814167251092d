//! [`Redactor`]: a last line of defence for text that leaves the supervisor (error
//! messages, diagnostics). Types already keep secrets out of audit events and `Debug`
//! output; this catches the value if it was ever formatted into a string anyway, e.g.
//! an upstream error body echoing a key back.

use std::borrow::Cow;

use crate::SecretValue;

/// Shortest value redacted: replacing a 1-3 character "secret" would mangle ordinary
/// text, and no real credential is that short.
const MIN_REDACTED_LEN: usize = 4;

/// Replaces known secret values in text with `[REDACTED sha256:...]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<SecretValue>,
}

impl Redactor {
    /// A redactor for `secrets`; longest first, so a secret containing another is
    /// replaced whole.
    pub fn new(secrets: impl IntoIterator<Item = SecretValue>) -> Redactor {
        let mut secrets: Vec<SecretValue> = secrets
            .into_iter()
            .filter(|s| s.expose_secret().len() >= MIN_REDACTED_LEN)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose_secret().len()));
        Redactor { secrets }
    }

    /// `text` with every known secret replaced (borrowed when nothing matched).
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            let value = secret.expose_secret();
            if out.contains(value) {
                let marker = format!("[REDACTED {}]", secret.fingerprint());
                out = Cow::Owned(out.replace(value, &marker));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_are_replaced_and_other_text_is_borrowed() {
        let key = SecretValue::new("sk-live-abcdef".into()).unwrap();
        let fp = key.fingerprint();
        let redactor = Redactor::new([key, SecretValue::new("abc".into()).unwrap()]);
        let out = redactor.redact("upstream said: bad key sk-live-abcdef (abc)");
        assert_eq!(out, format!("upstream said: bad key [REDACTED {fp}] (abc)"));
        assert!(matches!(redactor.redact("nothing here"), Cow::Borrowed(_)));
    }
}
