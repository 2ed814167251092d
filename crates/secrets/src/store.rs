//! [`CredentialStore`]: named secrets at rest in `credentials.json` inside the
//! [`ConfigDir`] (0600, 0700 directory, atomic replace, locked read-modify-write).
//!
//! The file is plain JSON, not encrypted: the threat model is the agent, which never
//! sees the host's configuration directory (the mount namespace and Landlock keep it
//! out of the sandbox), not another process of the same user. Values are held as
//! zeroize-on-drop [`SecretValue`]s from the moment they are parsed.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{ConfigDir, Fingerprint, SecretValue, SecretsError, validate_name};

/// The file name inside the configuration directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// Format version written; a file with another version is refused, not guessed at.
const VERSION: u32 = 1;
/// Lock scope of the credential file (taken after any caller's own lock).
const LOCK_SCOPE: &str = "credentials";

/// The credential file, read fresh for every operation so concurrent CLI calls and a
/// running supervisor see each other's changes.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    dir: ConfigDir,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    version: u32,
    #[serde(default)]
    credentials: BTreeMap<String, EntryIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryIn {
    value: SecretString,
    #[serde(default)]
    created_ms: u64,
}

#[derive(Serialize)]
struct FileOut<'a> {
    version: u32,
    credentials: BTreeMap<&'a str, EntryOut<'a>>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    value: &'a str,
    created_ms: u64,
}

/// One stored credential, as loaded.
struct Entry {
    value: SecretValue,
    created_ms: u64,
}

impl CredentialStore {
    /// The store in `dir` (nothing is read or created yet).
    pub fn new(dir: ConfigDir) -> CredentialStore {
        CredentialStore { dir }
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &ConfigDir {
        &self.dir
    }

    /// Stores (or replaces) the credential `name`; returns its fingerprint.
    pub fn put(
        &self,
        name: &str,
        value: SecretValue,
        now_ms: u64,
    ) -> Result<Fingerprint, SecretsError> {
        validate_name(name)?;
        let _lock = self.dir.lock(LOCK_SCOPE)?;
        let mut entries = self.load()?;
        let fingerprint = value.fingerprint();
        entries.insert(
            name.to_owned(),
            Entry {
                value,
                created_ms: now_ms,
            },
        );
        self.save(&entries)?;
        Ok(fingerprint)
    }

    /// The credential `name`, if stored.
    pub fn get(&self, name: &str) -> Result<Option<SecretValue>, SecretsError> {
        Ok(self.load()?.remove(name).map(|entry| entry.value))
    }

    /// Removes `name`; `false` when it was not stored.
    pub fn remove(&self, name: &str) -> Result<bool, SecretsError> {
        let _lock = self.dir.lock(LOCK_SCOPE)?;
        let mut entries = self.load()?;
        if entries.remove(name).is_none() {
            return Ok(false);
        }
        self.save(&entries)?;
        Ok(true)
    }

    /// Every stored name with its fingerprint (what may be shown).
    pub fn fingerprints(&self) -> Result<BTreeMap<String, Fingerprint>, SecretsError> {
        Ok(self
            .load()?
            .into_iter()
            .map(|(name, entry)| (name, entry.value.fingerprint()))
            .collect())
    }

    fn load(&self) -> Result<BTreeMap<String, Entry>, SecretsError> {
        let path = self.dir.file(CREDENTIALS_FILE);
        let Some(text) = self.dir.read_private(CREDENTIALS_FILE)? else {
            return Ok(BTreeMap::new());
        };
        // serde_json's messages quote at most a token type and a position, never values.
        let file: FileIn = serde_json::from_str(&text).map_err(|e| SecretsError::Corrupt {
            path: path.clone(),
            reason: format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                e.classify_name()
            ),
        })?;
        if file.version != VERSION {
            return Err(SecretsError::Corrupt {
                path,
                reason: format!("unsupported version {}", file.version),
            });
        }
        file.credentials
            .into_iter()
            .map(|(name, entry)| {
                let value = SecretValue::new(entry.value.expose_secret().to_owned())?;
                Ok((
                    name,
                    Entry {
                        value,
                        created_ms: entry.created_ms,
                    },
                ))
            })
            .collect()
    }

    fn save(&self, entries: &BTreeMap<String, Entry>) -> Result<(), SecretsError> {
        let file = FileOut {
            version: VERSION,
            credentials: entries
                .iter()
                .map(|(name, entry)| {
                    (
                        name.as_str(),
                        EntryOut {
                            value: entry.value.expose_secret(),
                            created_ms: entry.created_ms,
                        },
                    )
                })
                .collect(),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(4096));
        serde_json::to_writer_pretty(&mut *out, &file).map_err(|e| SecretsError::Corrupt {
            path: self.dir.file(CREDENTIALS_FILE),
            reason: e.to_string(),
        })?;
        out.push(b'\n');
        self.dir.write_private(CREDENTIALS_FILE, &out)
    }
}

/// serde_json's error category in words (its `Display` could echo input on some
/// errors; the category never does).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected structure",
            serde_json::error::Category::Eof => "unexpected end of file",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn store() -> (tempfile::TempDir, CredentialStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(ConfigDir::at(tmp.path().join("cordon")));
        (tmp, store)
    }

    #[test]
    fn put_get_remove_round_trip() {
        let (_tmp, store) = store();
        let fp = store
            .put("openai", SecretValue::new("sk-one".into()).unwrap(), 1)
            .unwrap();
        store
            .put("gh", SecretValue::new("ghp-two".into()).unwrap(), 2)
            .unwrap();
        assert_eq!(
            store.get("openai").unwrap().unwrap().expose_secret(),
            "sk-one"
        );
        assert_eq!(store.fingerprints().unwrap()["openai"], fp);
        assert!(store.remove("openai").unwrap());
        assert!(!store.remove("openai").unwrap());
        assert!(store.get("openai").unwrap().is_none());
        assert!(store.get("gh").unwrap().is_some());
        let mode = std::fs::metadata(store.dir().file(CREDENTIALS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn corrupt_file_error_does_not_echo_content() {
        let (_tmp, store) = store();
        store
            .dir()
            .write_private(
                CREDENTIALS_FILE,
                b"{\"version\":1,\"credentials\":{\"x\":{\"value\":\"sk-leak\",\"bogus\":1}}}",
            )
            .unwrap();
        let err = store.get("x").err().unwrap().to_string();
        assert!(!err.contains("sk-leak"), "{err}");
        assert!(err.contains("credentials.json"), "{err}");
    }

    #[test]
    fn concurrent_puts_lose_nothing() {
        let (_tmp, store) = store();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store
                        .put(
                            &format!("p{i}"),
                            SecretValue::new(format!("v{i}")).unwrap(),
                            0,
                        )
                        .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.fingerprints().unwrap().len(), 8);
    }
}
