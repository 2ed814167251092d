//! Where named sandboxes live on disk: one directory per sandbox under the user's state
//! directory, plain files only (`docs/lifecycle.md` lists them).
//!
//! - The root is `$XDG_STATE_HOME/cordon`; without `XDG_STATE_HOME`, `/var/lib/cordon`
//!   for root and `$HOME/.local/state/cordon` for everyone else. It is created 0700 and
//!   must belong to the caller: a second user sees nothing of it.
//! - Liveness is a lock, not a pid: the live supervisor holds `supervisor.lock`
//!   (`flock`), so "can I take the lock?" answers "is a supervisor alive?" without pid
//!   reuse guesses. Writes to `meta.json`/`state.json` happen under `meta.lock` and by
//!   atomic rename, so concurrent CLI calls never lose an update or read half a file.

mod records;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub(crate) use records::{Durability, boot_id, sync_files, write_atomic, write_json};
pub use records::{Meta, RestartPolicy, RunState, State};

use crate::error::SupervisorError;

/// Longest sandbox name: a hostname label (63) as the pattern allows.
pub const MAX_NAME: usize = 63;

/// Whether `name` matches `[a-z0-9][a-z0-9_.-]{0,62}`.
pub fn valid_sandbox_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

/// Fails with a one-line message unless `name` is a valid sandbox name.
pub fn check_sandbox_name(name: &str) -> Result<(), SupervisorError> {
    if valid_sandbox_name(name) {
        Ok(())
    } else {
        Err(SupervisorError::InvalidName(name.to_owned()))
    }
}

/// The caller's state root (`.../cordon`).
#[derive(Debug, Clone)]
pub struct StateRoot {
    dir: PathBuf,
}

/// Creates `dir` (and parents) with mode 0700 if missing.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl StateRoot {
    /// The root for the current user, from the environment (see the module docs).
    pub fn for_current_user() -> Result<StateRoot, SupervisorError> {
        let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None if rustix::process::geteuid().is_root() => PathBuf::from("/var/lib"),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".local/state"),
                None => {
                    return Err(SupervisorError::StateRoot(
                        "neither XDG_STATE_HOME nor HOME is set".into(),
                    ));
                }
            },
        };
        StateRoot::at(&base.join("cordon"))
    }

    /// The root at `dir` (created 0700; must belong to the caller).
    pub fn at(dir: &Path) -> Result<StateRoot, SupervisorError> {
        let fail = |e: io::Error| SupervisorError::StateRoot(format!("{}: {e}", dir.display()));
        create_private_dir(&dir.join("sandboxes")).map_err(fail)?;
        let meta = std::fs::metadata(dir).map_err(fail)?;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(SupervisorError::StateRoot(format!(
                "{} belongs to uid {}, not to uid {me}; set XDG_STATE_HOME to a directory of your own",
                dir.display(),
                meta.uid()
            )));
        }
        Ok(StateRoot {
            dir: dir.to_path_buf(),
        })
    }

    /// The state root directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The directory holding one sub-directory per sandbox.
    pub(crate) fn sandboxes(&self) -> PathBuf {
        self.dir.join("sandboxes")
    }

    /// The sandbox `name`, which must exist.
    pub fn sandbox(&self, name: &str) -> Result<SandboxDir, SupervisorError> {
        check_sandbox_name(name)?;
        let dir = self.sandboxes().join(name);
        if !dir.join("meta.json").is_file() {
            return Err(SupervisorError::NoSuchSandbox(name.to_owned()));
        }
        SandboxDir::open(name, dir)
    }

    /// Names of every sandbox, sorted.
    pub fn names(&self) -> Result<Vec<String>, SupervisorError> {
        let entries = std::fs::read_dir(self.sandboxes())
            .map_err(|e| SupervisorError::StateRoot(format!("{}: {e}", self.dir.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| valid_sandbox_name(name))
            .filter(|name| self.sandboxes().join(name).join("meta.json").is_file())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// One sandbox's directory, held open: the sockets are addressed through
/// `/proc/self/fd/N/...`, which keeps their paths short (a Unix socket path has at most 107
/// bytes, a deep `XDG_STATE_HOME` plus a 63-byte name would not fit).
#[derive(Debug)]
pub struct SandboxDir {
    name: String,
    path: PathBuf,
    handle: File,
}

impl SandboxDir {
    pub(crate) fn open(name: &str, path: PathBuf) -> Result<SandboxDir, SupervisorError> {
        let handle = OpenOptions::new()
            .read(true)
            .custom_flags(libc_o_directory())
            .open(&path)
            .map_err(|e| SupervisorError::state(&path, e))?;
        Ok(SandboxDir {
            name: name.to_owned(),
            path,
            handle,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path through the held directory descriptor (short, and immune to renames).
    fn via_fd(&self, file: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}/{file}", self.handle.as_raw_fd()))
    }

    pub fn control_socket(&self) -> PathBuf {
        self.via_fd("control.sock")
    }

    pub fn exec_socket(&self) -> PathBuf {
        self.via_fd("exec.sock")
    }

    pub fn meta_path(&self) -> PathBuf {
        self.path.join("meta.json")
    }

    pub fn state_path(&self) -> PathBuf {
        self.path.join("state.json")
    }

    /// The policy in force (what `start` uses; `policy set` replaces it).
    pub fn policy_path(&self) -> PathBuf {
        self.path.join("policy.yaml")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.path.join("audit.jsonl")
    }

    pub fn log_path(&self) -> PathBuf {
        self.path.join("logs").join("main.jsonl")
    }

    pub fn supervisor_log_path(&self) -> PathBuf {
        self.path.join("logs").join("supervisor.log")
    }

    /// The workdir cordon created for the sandbox (when `--workdir` was not given).
    pub fn own_workdir(&self) -> PathBuf {
        self.path.join("workdir")
    }

    fn lock_file(&self, name: &str) -> Result<File, SupervisorError> {
        let path = self.path.join(name);
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| SupervisorError::state(&path, e))
    }

    /// Takes `supervisor.lock` for the life of the returned file; `None` when another
    /// process holds it. Retries briefly: `list` probes the lock for a moment.
    pub fn try_lock_supervisor(&self) -> Result<Option<File>, SupervisorError> {
        let file = self.lock_file("supervisor.lock")?;
        for _ in 0..40 {
            match file.try_lock() {
                Ok(()) => return Ok(Some(file)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(SupervisorError::state(
                        &self.path.join("supervisor.lock"),
                        e,
                    ));
                }
            }
        }
        Ok(None)
    }

    /// Whether a supervisor holds the lock now.
    pub fn supervisor_alive(&self) -> Result<bool, SupervisorError> {
        let file = self.lock_file("supervisor.lock")?;
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                Ok(false)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(SupervisorError::state(
                &self.path.join("supervisor.lock"),
                e,
            )),
        }
    }

    /// Runs `f` holding `meta.lock` (serialises every read-modify-write of the records).
    pub fn with_meta_lock<T>(
        &self,
        f: impl FnOnce() -> Result<T, SupervisorError>,
    ) -> Result<T, SupervisorError> {
        let file = self.lock_file("meta.lock")?;
        file.lock()
            .map_err(|e| SupervisorError::state(&self.path.join("meta.lock"), e))?;
        let result = f();
        let _ = file.unlock();
        result
    }

    pub fn read_meta(&self) -> Result<Meta, SupervisorError> {
        records::read_json(&self.meta_path())
    }

    /// The last recorded run state (`stopped`, never run, when there is none).
    pub fn read_state(&self) -> Result<RunState, SupervisorError> {
        match std::fs::metadata(self.state_path()) {
            Ok(_) => records::read_json(&self.state_path()),
            Err(_) => Ok(RunState::never_started()),
        }
    }

    /// Changes the run state under `meta.lock`.
    pub fn update_state(
        &self,
        change: impl FnOnce(&mut RunState),
    ) -> Result<RunState, SupervisorError> {
        self.with_meta_lock(|| {
            let mut state = self.read_state()?;
            change(&mut state);
            state.updated_at_ms = cordon_audit::now_ms();
            write_json(&self.state_path(), &state, Durability::Later)?;
            Ok(state)
        })
    }
}

/// `O_DIRECTORY`, so opening the sandbox directory fails if it was replaced by a file.
fn libc_o_directory() -> i32 {
    rustix::fs::OFlags::DIRECTORY.bits() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        for ok in ["a", "0", "my-agent", "a.b_c-d", &"a".repeat(63)] {
            assert!(valid_sandbox_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "A",
            "a b",
            "a/b",
            "ü",
            &"a".repeat(64),
            "a:b",
        ] {
            assert!(!valid_sandbox_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_root_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot::at(&dir.path().join("cordon")).unwrap();
        let mode = std::fs::metadata(root.sandboxes()).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(dir.path().join("cordon"), Some(65534), None).unwrap();
            assert!(StateRoot::at(&dir.path().join("cordon")).is_err());
        }
    }
}
