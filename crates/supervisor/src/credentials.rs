//! Credential placeholders of one sandbox, as the supervisor wires them
//! (`--secret ENV=PROVIDER` on `cordon run` and `cordon create`).
//!
//! At `run`/`create`: each spec is parsed, its credential must be stored (else the
//! sandbox does not start), and a fresh random placeholder is issued. The agent's
//! environment gets `ENV=<placeholder>`; the real value is loaded from the credential
//! store (0600, the user's configuration directory) into the proxy's
//! [`Substitutor`] and nowhere else.
//!
//! Named sandboxes keep their placeholders across `stop`/`start`: `meta.json` records
//! `(ENV, provider, placeholder)` — a placeholder is not a secret, and a value the
//! agent may have written into its own files keeps working after a restart. The real
//! value is never written to the sandbox's state; each start reads it again from the
//! store, so a rotated key (`provider create --replace`) applies at the next start.
//! A credential removed since `create` does not stop the sandbox from starting: its
//! placeholder is then refused on every request (`MissingSecret`), with a warning.

use std::collections::HashMap;
use std::ffi::OsString;

use cordon_secrets::{
    ConfigDir, CredentialStore, Placeholder, PlaceholderBinding, Placeholders, SecretValue,
    Substitutor, parse_secret_spec,
};
use serde::{Deserialize, Serialize};

use crate::error::{FailureKind, SupervisorError};

/// One `--secret` as recorded in a named sandbox's `meta.json` (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// Variable set inside the sandbox.
    pub env: String,
    /// Credential (provider) name in the store.
    pub provider: String,
    /// The opaque value the variable holds.
    pub placeholder: String,
}

fn failed(message: String) -> SupervisorError {
    SupervisorError::StartFailed {
        kind: FailureKind::Cordon,
        message,
    }
}

/// The credential store of the user running cordon (`$XDG_CONFIG_HOME/cordon`, else
/// `~/.config/cordon`).
fn store() -> Result<CredentialStore, SupervisorError> {
    ConfigDir::from_env()
        .map(CredentialStore::new)
        .map_err(|e| failed(format!("--secret: no configuration directory: {e}")))
}

/// Parses `ENV=PROVIDER` specs, checks each credential is stored, and issues one
/// placeholder per variable (a repeated variable: the last wins).
pub(crate) fn issue(specs: &[String]) -> Result<Placeholders, SupervisorError> {
    let mut placeholders = Placeholders::new();
    if specs.is_empty() {
        return Ok(placeholders);
    }
    let store = store()?;
    for spec in specs {
        let (env, provider) =
            parse_secret_spec(spec).map_err(|e| failed(format!("--secret {spec}: {e}")))?;
        let stored = store
            .get(&provider)
            .map_err(|e| failed(format!("--secret {spec}: {e}")))?;
        if stored.is_none() {
            return Err(failed(format!(
                "--secret {spec}: no credential `{provider}` is stored; add it with `cordon provider create {provider} --type generic --key-env VAR` (see `cordon provider list`)"
            )));
        }
        placeholders
            .issue(&env, &provider)
            .map_err(|e| failed(format!("--secret {spec}: {e}")))?;
    }
    Ok(placeholders)
}

/// The records `meta.json` keeps.
pub(crate) fn records(placeholders: &Placeholders) -> Vec<SecretRecord> {
    placeholders
        .bindings()
        .iter()
        .map(|b| SecretRecord {
            env: b.env.clone(),
            provider: b.provider.clone(),
            placeholder: b.placeholder.as_str().to_owned(),
        })
        .collect()
}

/// The placeholders a named sandbox was created with.
pub(crate) fn restore(records: &[SecretRecord]) -> Result<Placeholders, SupervisorError> {
    let mut placeholders = Placeholders::new();
    for record in records {
        let placeholder = Placeholder::parse(&record.placeholder)
            .map_err(|e| failed(format!("meta.json: secret {}: {e}", record.env)))?;
        placeholders
            .insert(PlaceholderBinding {
                env: record.env.clone(),
                provider: record.provider.clone(),
                placeholder,
            })
            .map_err(|e| failed(format!("meta.json: secret {}: {e}", record.env)))?;
    }
    Ok(placeholders)
}

/// The proxy's substitutor: the placeholders with the real values read from the
/// store now. Credentials that cannot be read come back as warnings (their
/// placeholders are refused).
pub(crate) fn substitutor(placeholders: Placeholders) -> (Substitutor, Vec<String>) {
    let mut values: HashMap<String, SecretValue> = HashMap::new();
    let mut warnings = Vec::new();
    if !placeholders.is_empty() {
        match store() {
            Ok(store) => {
                for binding in placeholders.bindings() {
                    if values.contains_key(&binding.provider) {
                        continue;
                    }
                    match store.get(&binding.provider) {
                        Ok(Some(value)) => {
                            values.insert(binding.provider.clone(), value);
                        }
                        Ok(None) => warnings.push(format!(
                            "credential `{}` (${}) is no longer stored: requests carrying its placeholder are refused",
                            binding.provider, binding.env
                        )),
                        Err(e) => warnings.push(format!(
                            "credential `{}` (${}) cannot be read ({e}): requests carrying its placeholder are refused",
                            binding.provider, binding.env
                        )),
                    }
                }
            }
            Err(e) => warnings.push(e.to_string()),
        }
    }
    (Substitutor::new(placeholders, values), warnings)
}

/// `(ENV, placeholder)` for the agent's environment.
pub(crate) fn env(placeholders: &Placeholders) -> Vec<(OsString, OsString)> {
    placeholders
        .env_vars()
        .map(|(name, value)| (name.into(), value.into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keep_the_placeholder() {
        let mut placeholders = Placeholders::new();
        placeholders.issue("GITHUB_TOKEN", "github").unwrap();
        let records = records(&placeholders);
        let restored = restore(&records).unwrap();
        assert_eq!(restored.bindings(), placeholders.bindings());
        let mut bad = records.clone();
        bad[0].placeholder = "ghp_not_a_placeholder".into();
        assert!(restore(&bad).is_err());
    }
}
