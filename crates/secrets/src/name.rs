//! Names of stored credentials (and the providers that own them): the same shape as
//! sandbox names, so they are safe as file keys, in audit lines and on command lines.

use crate::SecretsError;

/// Longest name, matching sandbox names.
pub const MAX_NAME_CHARS: usize = 63;

/// Checks `[a-z0-9][a-z0-9_.-]{0,62}`.
pub fn validate_name(name: &str) -> Result<(), SecretsError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && name.len() <= MAX_NAME_CHARS {
        Ok(())
    } else {
        Err(SecretsError::InvalidName(name.chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_shape_only() {
        for ok in ["openai", "a", "my-provider.2", "0_x"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "-x", "Upper", "a/b", "a b", "é", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
