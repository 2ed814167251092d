//! Trust on first use for binaries: the first time a path makes a connection in a
//! sandbox, the SHA-256 of its contents is recorded; when the same path later runs
//! different contents, its connections are refused.
//!
//! Policies name binaries by path, and a path inside the sandbox may be writable by
//! the agent (a copied `curl` in the workdir, a `node_modules/.bin` shim). Without this
//! check, an agent allowed to reach a host "as /work/tool" could replace /work/tool
//! with anything. The contents are read through `/proc/<pid>/exe`, which opens the
//! image the process actually runs even when the path now names another file.
//!
//! Hashing a 100 MB binary costs ~0.3 s, so results are cached by the file's identity
//! (device, inode, size, mtime, ctime): a path whose file was not touched is checked
//! with one `stat`.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// What identifies a file's contents without reading them: any write changes mtime or
/// ctime, any replacement changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

/// The recorded and the current digest of a binary that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryChanged {
    /// The path inside the sandbox.
    pub path: String,
    /// SHA-256 recorded on first use (hex).
    pub first_seen: String,
    /// SHA-256 of what runs now (hex).
    pub now: String,
}

impl std::fmt::Display for BinaryChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "binary {} changed since its first use in this sandbox (sha256 {} then, {} now); connections from it are refused until the sandbox restarts",
            self.path,
            &self.first_seen[..12.min(self.first_seen.len())],
            &self.now[..12.min(self.now.len())]
        )
    }
}

/// Why a binary could not be vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustError {
    /// Same path, different contents.
    Changed(BinaryChanged),
    /// The executable could not be read (process gone, permissions).
    Unreadable(String),
}

/// The per-sandbox record of binaries seen so far.
#[derive(Debug, Default)]
pub struct BinaryTrust {
    /// Path inside the sandbox → digest recorded on first use.
    first_use: Mutex<HashMap<String, [u8; 32]>>,
    /// File identity → digest, so unchanged files are not re-read.
    digests: Mutex<HashMap<FileKey, [u8; 32]>>,
}

impl BinaryTrust {
    /// An empty record (a new sandbox).
    pub fn new() -> BinaryTrust {
        BinaryTrust::default()
    }

    /// Checks the binary `pid` runs, known as `path` inside the sandbox, and returns
    /// its SHA-256 (hex). Blocking: may read the whole file.
    pub fn check(&self, pid: u32, path: &str) -> Result<String, TrustError> {
        let exe = format!("/proc/{pid}/exe");
        let unreadable = |err: std::io::Error| TrustError::Unreadable(format!("{path}: {err}"));
        let meta = std::fs::metadata(&exe).map_err(unreadable)?;
        let key = FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        };
        let cached = self.digests.lock().ok().and_then(|d| d.get(&key).copied());
        let digest = match cached {
            Some(digest) => digest,
            None => {
                let digest = hash_file(&exe).map_err(unreadable)?;
                if let Ok(mut digests) = self.digests.lock() {
                    digests.insert(key, digest);
                }
                digest
            }
        };
        let mut first_use = self.first_use.lock().unwrap_or_else(|e| e.into_inner());
        let recorded = *first_use.entry(path.to_owned()).or_insert(digest);
        if recorded == digest {
            Ok(hex::encode(digest))
        } else {
            Err(TrustError::Changed(BinaryChanged {
                path: path.to_owned(),
                first_seen: hex::encode(recorded),
                now: hex::encode(digest),
            }))
        }
    }
}

fn hash_file(path: &str) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_binary_is_trusted_on_first_use_and_after() {
        let trust = BinaryTrust::new();
        let pid = std::process::id();
        let first = trust.check(pid, "/bin/self").unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(trust.check(pid, "/bin/self").unwrap(), first);
    }

    #[test]
    fn same_path_with_other_contents_is_refused() {
        let trust = BinaryTrust::new();
        let pid = std::process::id();
        trust
            .first_use
            .lock()
            .unwrap()
            .insert("/bin/self".into(), [7u8; 32]);
        match trust.check(pid, "/bin/self") {
            Err(TrustError::Changed(changed)) => {
                assert_eq!(changed.first_seen, hex::encode([7u8; 32]));
                assert!(changed.to_string().contains("changed since its first use"));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
