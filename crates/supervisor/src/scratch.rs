//! Small generated files the sandbox mounts read-only (the CA bundle, resolv.conf,
//! passwd and group): world-readable, because init opens mount sources as the
//! sandbox's mapped user, which cannot traverse the supervisor's 0700 directories, and
//! removed when dropped (once the sandbox has mounted them, or at exit).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::workdir::random_hex;

use crate::error::SupervisorError;

/// A generated file in the temp directory, removed on drop.
#[derive(Debug)]
pub(crate) struct ScratchFile {
    pub(crate) path: PathBuf,
}

impl ScratchFile {
    /// A new file `cordon-NAME-RANDOM-SUFFIX` (never an existing one) holding `content`,
    /// which must hold nothing secret.
    pub(crate) fn create(
        name: &str,
        suffix: &str,
        content: &str,
    ) -> Result<ScratchFile, SupervisorError> {
        let path = std::env::temp_dir().join(format!("cordon-{name}-{}-{suffix}", random_hex(6)));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| SupervisorError::state(&path, e))?;
        let scratch = ScratchFile { path };
        file.write_all(content.as_bytes())
            .map_err(|e| SupervisorError::state(&scratch.path, e))?;
        Ok(scratch)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
