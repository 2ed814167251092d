//! [`ProviderRegistry`]: the providers an operator created, in `providers.json` next to
//! the credential store. The record holds what may be shown (name, type, base URL, key
//! fingerprint); the key itself goes to [`CredentialStore`] under the provider's name,
//! so cordon-secrets stays the only home of real values.
//!
//! Consistency between the two files: `create` stores the key first and the record
//! second, `rm` removes the record first and the key second, both under the
//! `providers` lock; a crash in between leaves at worst an orphaned key, never a record
//! that points at nothing silently (resolving it reports [`InferenceError::MissingKey`]).

use serde::{Deserialize, Serialize};

use cordon_secrets::{ConfigDir, CredentialStore, Fingerprint, SecretValue, validate_name};

use crate::{BaseUrl, InferenceError, ProviderKind};

/// The file name inside the configuration directory.
pub const PROVIDERS_FILE: &str = "providers.json";
/// Format version written; a file with another version is refused.
const VERSION: u32 = 1;
/// Lock scope (taken before the credential store's own).
const LOCK_SCOPE: &str = "providers";

/// One stored provider, as `cordon provider list --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderRecord {
    /// Unique name, `[a-z0-9][a-z0-9_.-]{0,62}`.
    pub name: String,
    /// API family.
    #[serde(rename = "type")]
    pub kind: ProviderKind,
    /// Normalised API root (`None` for `generic` credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Fingerprint of the stored key (`None` = created with `--no-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<Fingerprint>,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
}

/// What `cordon provider create` asks for.
#[derive(Debug, Clone)]
pub struct NewProvider {
    /// Name to store it under.
    pub name: String,
    /// API family.
    pub kind: ProviderKind,
    /// `--base-url`, when given.
    pub base_url: Option<String>,
    /// The key read from `--key-env`/`--key-file`; `None` for `--no-key`.
    pub key: Option<SecretValue>,
}

/// A provider ready for the router: its record, parsed base URL and key.
#[derive(Debug, Clone)]
pub struct ResolvedProvider {
    /// Name.
    pub name: String,
    /// API family.
    pub kind: ProviderKind,
    /// Parsed API root (`None` only for `generic`).
    pub base: Option<BaseUrl>,
    /// The real key (`Debug` shows its fingerprint only).
    pub key: Option<SecretValue>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    #[serde(default)]
    providers: Vec<ProviderRecord>,
}

/// The provider records plus the credential store holding their keys.
#[derive(Debug, Clone)]
pub struct ProviderRegistry {
    dir: ConfigDir,
    credentials: CredentialStore,
}

impl ProviderRegistry {
    /// The registry in `dir` (nothing is read or created yet).
    pub fn new(dir: ConfigDir) -> ProviderRegistry {
        ProviderRegistry {
            credentials: CredentialStore::new(dir.clone()),
            dir,
        }
    }

    /// The configuration directory the registry lives in.
    pub fn dir(&self) -> &ConfigDir {
        &self.dir
    }

    /// The credential store (for placeholders of `generic` credentials).
    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    /// Validates and stores a provider; with `replace`, an existing one of that name is
    /// overwritten (key rotation).
    pub fn create(
        &self,
        new: NewProvider,
        replace: bool,
        now_ms: u64,
    ) -> Result<ProviderRecord, InferenceError> {
        validate_name(&new.name)?;
        let base_url = match (new.kind, new.base_url.as_deref()) {
            (ProviderKind::Generic, Some(_)) => {
                return Err(InferenceError::InvalidProvider(
                    "a generic credential has no --base-url: endpoints bind it in the policy"
                        .into(),
                ));
            }
            (ProviderKind::Generic, None) => None,
            (_, Some(url)) => Some(BaseUrl::parse(url)?.to_string()),
            (kind, None) => Some(
                kind.default_base_url()
                    .ok_or_else(|| {
                        InferenceError::InvalidProvider(format!("type `{kind}` needs --base-url"))
                    })?
                    .to_owned(),
            ),
        };
        if new.key.is_none() && !new.kind.key_optional() {
            return Err(InferenceError::InvalidProvider(format!(
                "type `{}` needs a key: --key-env VAR or --key-file FILE",
                new.kind
            )));
        }
        let _lock = self.dir.lock(LOCK_SCOPE)?;
        let mut records = self.load()?;
        let existing = records.iter().position(|r| r.name == new.name);
        if existing.is_some() && !replace {
            return Err(InferenceError::ProviderExists(new.name));
        }
        let key_fingerprint = match new.key {
            Some(key) => Some(self.credentials.put(&new.name, key, now_ms)?),
            None => {
                self.credentials.remove(&new.name)?;
                None
            }
        };
        let record = ProviderRecord {
            name: new.name,
            kind: new.kind,
            base_url,
            key_fingerprint,
            created_ms: now_ms,
        };
        match existing {
            Some(i) => records[i] = record.clone(),
            None => records.push(record.clone()),
        }
        self.save(records)?;
        Ok(record)
    }

    /// Every provider, sorted by name.
    pub fn list(&self) -> Result<Vec<ProviderRecord>, InferenceError> {
        self.load()
    }

    /// One provider's record.
    pub fn get(&self, name: &str) -> Result<ProviderRecord, InferenceError> {
        self.load()?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| InferenceError::UnknownProvider(name.to_owned()))
    }

    /// Removes a provider and its key; returns the removed record.
    pub fn remove(&self, name: &str) -> Result<ProviderRecord, InferenceError> {
        let _lock = self.dir.lock(LOCK_SCOPE)?;
        let mut records = self.load()?;
        let index = records
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| InferenceError::UnknownProvider(name.to_owned()))?;
        let record = records.remove(index);
        self.save(records)?;
        self.credentials.remove(name)?;
        Ok(record)
    }

    /// The provider with its parsed base URL and key, for building a route.
    pub fn resolve(&self, name: &str) -> Result<ResolvedProvider, InferenceError> {
        let record = self.get(name)?;
        let base = record.base_url.as_deref().map(BaseUrl::parse).transpose()?;
        let key = match record.key_fingerprint {
            Some(_) => Some(
                self.credentials
                    .get(name)?
                    .ok_or_else(|| InferenceError::MissingKey(name.to_owned()))?,
            ),
            None => None,
        };
        Ok(ResolvedProvider {
            name: record.name,
            kind: record.kind,
            base,
            key,
        })
    }

    fn load(&self) -> Result<Vec<ProviderRecord>, InferenceError> {
        let path = self.dir.file(PROVIDERS_FILE);
        let Some(text) = self.dir.read_private(PROVIDERS_FILE)? else {
            return Ok(Vec::new());
        };
        let corrupt = |reason: String| cordon_secrets::SecretsError::Corrupt {
            path: path.clone(),
            reason,
        };
        let file: File = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != VERSION {
            return Err(corrupt(format!("unsupported version {}", file.version)).into());
        }
        let mut records = file.providers;
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records)
    }

    fn save(&self, mut providers: Vec<ProviderRecord>) -> Result<(), InferenceError> {
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        let file = File {
            version: VERSION,
            providers,
        };
        let mut text = serde_json::to_vec_pretty(&file).map_err(|e| {
            cordon_secrets::SecretsError::Corrupt {
                path: self.dir.file(PROVIDERS_FILE),
                reason: e.to_string(),
            }
        })?;
        text.push(b'\n');
        Ok(self.dir.write_private(PROVIDERS_FILE, &text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (tempfile::TempDir, ProviderRegistry) {
        let tmp = tempfile::tempdir().unwrap();
        let reg = ProviderRegistry::new(ConfigDir::at(tmp.path().join("cordon")));
        (tmp, reg)
    }

    fn new(name: &str, kind: ProviderKind, key: Option<&str>) -> NewProvider {
        NewProvider {
            name: name.into(),
            kind,
            base_url: None,
            key: key.map(|k| SecretValue::new(k.into()).unwrap()),
        }
    }

    #[test]
    fn create_resolve_remove() {
        let (_tmp, reg) = registry();
        let rec = reg
            .create(new("oa", ProviderKind::OpenAi, Some("sk-1")), false, 5)
            .unwrap();
        assert_eq!(rec.base_url.as_deref(), Some("https://api.openai.com/v1"));
        let text = std::fs::read_to_string(reg.dir.file(PROVIDERS_FILE)).unwrap();
        assert!(!text.contains("sk-1"), "keys live in the credential store");
        let resolved = reg.resolve("oa").unwrap();
        assert_eq!(resolved.key.unwrap().expose_secret(), "sk-1");
        assert!(matches!(
            reg.create(new("oa", ProviderKind::OpenAi, Some("sk-2")), false, 6),
            Err(InferenceError::ProviderExists(_))
        ));
        reg.create(new("oa", ProviderKind::OpenAi, Some("sk-2")), true, 6)
            .unwrap();
        assert_eq!(
            reg.resolve("oa").unwrap().key.unwrap().expose_secret(),
            "sk-2"
        );
        reg.remove("oa").unwrap();
        assert!(reg.credentials().get("oa").unwrap().is_none());
        assert!(matches!(
            reg.remove("oa"),
            Err(InferenceError::UnknownProvider(_))
        ));
    }

    #[test]
    fn input_rules() {
        let (_tmp, reg) = registry();
        // Keys are required where the API requires them.
        assert!(
            reg.create(new("a", ProviderKind::OpenAi, None), false, 0)
                .is_err()
        );
        reg.create(new("o", ProviderKind::Ollama, None), false, 0)
            .unwrap();
        assert_eq!(
            reg.get("o").unwrap().base_url.as_deref(),
            Some("http://127.0.0.1:11434/v1")
        );
        // openai-compatible needs a base URL.
        assert!(
            reg.create(new("c", ProviderKind::OpenAiCompatible, None), false, 0)
                .is_err()
        );
        let mut with_url = new("c", ProviderKind::OpenAiCompatible, None);
        with_url.base_url = Some("http://10.0.0.5:8000".into());
        let rec = reg.create(with_url, false, 0).unwrap();
        assert_eq!(rec.base_url.as_deref(), Some("http://10.0.0.5:8000/v1"));
        // Generic credentials have a key and no URL.
        let rec = reg
            .create(new("gh", ProviderKind::Generic, Some("ghp")), false, 0)
            .unwrap();
        assert!(rec.base_url.is_none());
        assert!(
            reg.create(new("Bad", ProviderKind::OpenAi, Some("k")), false, 0)
                .is_err()
        );
        let names: Vec<_> = reg.list().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["c", "gh", "o"]);
    }
}
