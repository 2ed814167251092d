//! The agent's `/sandbox`: either the directory `--workdir` names, or a fresh per-run
//! directory that is removed, with everything the agent left in it, when the run ends.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::SupervisorError;

/// A workdir for one run.
#[derive(Debug)]
pub(crate) struct Workdir {
    path: PathBuf,
    /// Created by us, so removed by us.
    fresh: bool,
}

/// Random hex from the kernel (names must not collide between concurrent runs).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // Still unique enough per process: pid and time.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = (u64::from(std::process::id()) << 32) | u64::from(nanos);
        buf.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (seed >> ((i % 8) * 8)) as u8);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Workdir {
    /// The directory `--workdir` names; it must exist.
    pub(crate) fn given(path: &Path) -> Result<Workdir, SupervisorError> {
        let invalid = |reason: String| SupervisorError::Workdir {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(Workdir {
                path: path.to_path_buf(),
                fresh: false,
            }),
            Ok(_) => Err(invalid("not a directory".into())),
            Err(err) => Err(invalid(err.to_string())),
        }
    }

    /// A new private directory under the temp dir, owned by `owner` (the agent's host ids).
    pub(crate) fn fresh(name: &str, owner: Option<(u32, u32)>) -> Result<Workdir, SupervisorError> {
        let base = std::env::temp_dir();
        let path = base.join(format!("cordon-{name}-{}", random_hex(4)));
        let fail = |source| SupervisorError::FreshWorkdir {
            dir: base.clone(),
            source,
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(fail)?;
        let workdir = Workdir { path, fresh: true };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&workdir.path, Some(uid), Some(gid)).map_err(fail)?;
        }
        Ok(workdir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Makes every directory below `path` writable and searchable by us, so removal cannot be
/// stopped by a `chmod 000` the agent left behind.
fn open_up(path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            open_up(&entry.path());
        }
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.fresh {
            return;
        }
        if std::fs::remove_dir_all(&self.path).is_err() {
            open_up(&self.path);
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_workdir_is_private_and_removed_with_its_content() {
        let workdir = Workdir::fresh("unit", None).unwrap();
        let path = workdir.path().to_path_buf();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        let locked = path.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::write(locked.join("f"), "x").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        drop(workdir);
        assert!(!path.exists());
    }

    #[test]
    fn a_given_workdir_must_be_an_existing_directory_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        drop(Workdir::given(dir.path()).unwrap());
        assert!(dir.path().exists());
        assert!(Workdir::given(&dir.path().join("missing")).is_err());
    }
}
