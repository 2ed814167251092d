//! The per-user configuration directory (`$XDG_CONFIG_HOME/cordon`, else
//! `$HOME/.config/cordon`, for root too) and the only way files are written into it:
//! mode 0600 in a 0700 directory owned by the caller, replaced atomically (temp file,
//! fsync, rename, fsync of the directory), read-modify-write under an exclusive lock
//! so two concurrent `cordon provider create` calls cannot lose each other's entry.
//!
//! The environment is read by the CLI and handed in as values
//! ([`ConfigDir::from_env_values`]): layers never read globals on their own.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use zeroize::Zeroizing;

use crate::SecretsError;

/// Mode of every file written here.
const FILE_MODE: u32 = 0o600;
/// Mode of the directory.
const DIR_MODE: u32 = 0o700;
/// Largest file read back: cordon's own files are small; a bigger one is not ours.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The configuration directory; nothing is created until a write needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDir {
    path: PathBuf,
}

/// Held while a read-modify-write cycle runs; dropping it releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl ConfigDir {
    /// Resolves the directory from the values of `XDG_CONFIG_HOME` and `HOME` (as read
    /// by the caller). Relative or empty values are ignored, as the XDG spec says.
    pub fn from_env_values(
        xdg_config_home: Option<OsString>,
        home: Option<OsString>,
    ) -> Result<ConfigDir, SecretsError> {
        let absolute = |v: Option<OsString>| {
            v.map(PathBuf::from)
                .filter(|p| p.is_absolute() && !p.as_os_str().is_empty())
        };
        if let Some(xdg) = absolute(xdg_config_home) {
            return Ok(ConfigDir::at(xdg.join("cordon")));
        }
        absolute(home)
            .map(|home| ConfigDir::at(home.join(".config").join("cordon")))
            .ok_or(SecretsError::NoConfigDir)
    }

    /// The directory of the user running this process, from its own environment:
    /// what the CLI, the supervisor's router and its `--secret` store all read.
    pub fn from_env() -> Result<ConfigDir, SecretsError> {
        ConfigDir::from_env_values(
            std::env::var_os("XDG_CONFIG_HOME"),
            std::env::var_os("HOME"),
        )
    }

    /// A directory at an explicit path (tests, `--config-dir`).
    pub fn at(path: impl Into<PathBuf>) -> ConfigDir {
        ConfigDir { path: path.into() }
    }

    /// Where the files live.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of one file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the directory (and parents) if needed, and makes sure it is ours and
    /// closed to others: a group- or world-accessible directory we own is tightened to
    /// 0700; one owned by another user is refused.
    pub fn ensure(&self) -> Result<(), SecretsError> {
        fs::create_dir_all(&self.path).map_err(|e| SecretsError::io("creating", &self.path, e))?;
        let meta =
            fs::metadata(&self.path).map_err(|e| SecretsError::io("inspecting", &self.path, e))?;
        check_owner(&self.path, &meta)?;
        if meta.mode() & 0o777 != DIR_MODE {
            fs::set_permissions(&self.path, fs::Permissions::from_mode(DIR_MODE))
                .map_err(|e| SecretsError::io("restricting", &self.path, e))?;
        }
        Ok(())
    }

    /// Takes the exclusive lock named `scope` (file `.<scope>.lock`, creating the
    /// directory if needed). Hold it across read → change → [`ConfigDir::write_private`].
    /// One scope per file; when two are needed, always take them in the same order
    /// (providers before credentials) so callers cannot deadlock.
    pub fn lock(&self, scope: &str) -> Result<DirLock, SecretsError> {
        self.ensure()?;
        let path = self.file(&format!(".{scope}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| SecretsError::io("opening", &path, e))?;
        rustix::fs::flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| SecretsError::io("locking", &path, e.into()))?;
        Ok(DirLock { _file: file })
    }

    /// Reads a file written by [`ConfigDir::write_private`]; `None` when it does not
    /// exist. Refuses a file that others can read or that another user owns. The
    /// buffer is zeroed when dropped since it may hold secrets.
    pub fn read_private(&self, name: &str) -> Result<Option<Zeroizing<String>>, SecretsError> {
        let path = self.file(name);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SecretsError::io("opening", &path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| SecretsError::io("inspecting", &path, e))?;
        check_owner(&path, &meta)?;
        if meta.mode() & 0o077 != 0 {
            return Err(SecretsError::InsecurePermissions {
                path,
                problem: format!("mode {:04o} (must be 0600)", meta.mode() & 0o777),
            });
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(SecretsError::Corrupt {
                path,
                reason: format!("larger than {MAX_FILE_BYTES} bytes"),
            });
        }
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text)
            .map_err(|e| SecretsError::io("reading", &path, e))?;
        Ok(Some(text))
    }

    /// Replaces `name` with `contents` atomically, mode 0600: a reader sees the old
    /// file or the new one, never a mix, and a crash leaves at worst a stray temp file.
    pub fn write_private(&self, name: &str, contents: &[u8]) -> Result<(), SecretsError> {
        self.ensure()?;
        let target = self.file(name);
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| SecretsError::Random(e.to_string()))?;
        let temp = self.file(&format!(".{name}.{}.tmp", hex::encode(nonce)));
        let result = write_new(&temp, contents).and_then(|()| {
            fs::rename(&temp, &target).map_err(|e| SecretsError::io("replacing", &target, e))
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        // Make the rename itself durable.
        File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| SecretsError::io("syncing", &self.path, e))
    }
}

fn write_new(path: &Path, contents: &[u8]) -> Result<(), SecretsError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| SecretsError::io("creating", path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| SecretsError::io("writing", path, e))
}

fn check_owner(path: &Path, meta: &fs::Metadata) -> Result<(), SecretsError> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() == me {
        Ok(())
    } else {
        Err(SecretsError::InsecurePermissions {
            path: path.to_owned(),
            problem: format!("owned by uid {} (expected {me})", meta.uid()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_wins_over_home_and_relative_values_are_ignored() {
        let dir = ConfigDir::from_env_values(Some("/x/cfg".into()), Some("/home/u".into()));
        assert_eq!(dir.unwrap().path(), Path::new("/x/cfg/cordon"));
        let dir = ConfigDir::from_env_values(Some("rel".into()), Some("/home/u".into()));
        assert_eq!(dir.unwrap().path(), Path::new("/home/u/.config/cordon"));
        assert!(matches!(
            ConfigDir::from_env_values(None, Some("".into())),
            Err(SecretsError::NoConfigDir)
        ));
    }

    #[test]
    fn writes_are_0600_in_a_0700_dir_and_loose_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::at(tmp.path().join("cordon"));
        dir.write_private("f.json", b"{}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&dir.file("f.json")), 0o600);
        assert_eq!(dir.read_private("f.json").unwrap().unwrap().as_str(), "{}");
        assert!(dir.read_private("missing").unwrap().is_none());

        fs::set_permissions(dir.file("f.json"), fs::Permissions::from_mode(0o644)).unwrap();
        let err = dir.read_private("f.json").unwrap_err();
        assert!(err.to_string().contains("0644"), "{err}");
    }

    #[test]
    fn loose_directory_is_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::at(tmp.path().join("cordon"));
        fs::create_dir(dir.path()).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir.ensure().unwrap();
        assert_eq!(fs::metadata(dir.path()).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn no_temp_files_are_left_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::at(tmp.path());
        for i in 0..3 {
            dir.write_private("f", format!("{i}").as_bytes()).unwrap();
        }
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["f".to_owned()]);
    }
}
