//! The two records of a sandbox: `meta.json` (what `create` was asked; fixed for the
//! sandbox's life) and `state.json` (what happened last; written by the supervisor and by
//! `start`/`stop`/`rm`). Both are written to a temporary file, synced and renamed over the
//! old one: a reader sees the old or the new record, never a torn one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::SupervisorError;

/// When the supervisor starts the main process again after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never (the sandbox stops with its main process).
    #[default]
    No,
    /// When it exits with a non-zero status or by a signal.
    OnFailure,
    /// Whenever it exits (until `cordon stop`).
    Always,
}

impl RestartPolicy {
    /// The word `--restart` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
        }
    }

    /// Whether a main process that ended with `code` is started again.
    pub fn restarts(self, code: u8) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Always => true,
        }
    }
}

/// What `cordon create` was asked (`meta.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// Format version of this record.
    pub version: u32,
    pub name: String,
    pub created_at_ms: u64,
    /// The main process's argv.
    pub command: Vec<String>,
    /// The main process's environment, filtered at create time (the caller's allow-listed
    /// variables and `--env`), without the proxy variables (added at each start).
    pub env: Vec<(String, String)>,
    /// The host directory bound at `/sandbox`.
    pub workdir: PathBuf,
    /// The workdir is the sandbox's own (`<dir>/workdir`, removed by `rm`).
    pub workdir_owned: bool,
    pub restart: RestartPolicy,
    /// Log and audit files rotate past this size (the old file becomes `.1`).
    pub log_max_bytes: u64,
    /// `--add-host NAME:IP` entries.
    pub add_hosts: Vec<String>,
    /// Where the policy came from (the file given, then `policy set` files; `default`).
    pub policy_source: String,
    /// Files cordon wrote for the agent, mounted read-only at every start:
    /// `(inside, host)` (`create --agent`; see `agents/files.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_ro_files: Vec<(PathBuf, PathBuf)>,
    /// `--secret ENV=PROVIDER`: the placeholders issued at `create` (opaque, not
    /// secret; the real values stay in the credential store), kept for every start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<crate::credentials::SecretRecord>,
}

/// The sandbox's state as recorded; what is shown also depends on the lock (see
/// `lifecycle::inspect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// A supervisor is starting or running it.
    Running,
    /// The supervisor is starting it again (restart policy).
    Restarting,
    /// Nothing runs: never started, stopped, or its main process exited.
    Stopped,
    /// Recorded as running, but no supervisor holds the lock (it died: killed, crashed).
    Crashed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Restarting => "restarting",
            State::Stopped => "stopped",
            State::Crashed => "crashed",
        }
    }
}

/// `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    pub state: State,
    /// Host pids of the supervisor and the sandbox's init (while running).
    pub supervisor_pid: Option<u32>,
    pub init_pid: Option<u32>,
    pub started_at_ms: Option<u64>,
    /// `/proc/sys/kernel/random/boot_id` when it started: a different boot means the
    /// host restarted (stopped), the same boot without a supervisor means it crashed.
    pub boot_id: Option<String>,
    /// Exit code of the main process's last run (shell convention).
    pub exit_code: Option<u8>,
    /// Why it is in this state, for `list`/`status`.
    pub reason: Option<String>,
    /// Restarts by the restart policy since the last `create`/`start`.
    pub restarts: u32,
    /// `cordon stop` asked for it: no restart follows, even when the supervisor is
    /// between two runs of the main process (not serving its control socket).
    #[serde(default)]
    pub stop_requested: bool,
    pub updated_at_ms: u64,
}

impl RunState {
    /// A sandbox created but never started.
    pub fn never_started() -> RunState {
        RunState {
            state: State::Stopped,
            supervisor_pid: None,
            init_pid: None,
            started_at_ms: None,
            boot_id: None,
            exit_code: None,
            reason: Some("never started".into()),
            restarts: 0,
            stop_requested: false,
            updated_at_ms: 0,
        }
    }
}

/// This boot's id (empty when unreadable).
pub(crate) fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// When a record must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Before the write returns (fsync): configuration a user changed (`policy set`).
    Synced,
    /// Whenever the kernel writes it back: the run state, rewritten at every start and
    /// stop, and `create`'s files, which the supervisor syncs once the sandbox runs
    /// ([`sync_files`]). An fsync costs ~8 ms here; `create` would pay five of them.
    Later,
}

/// Writes `value` as JSON to `path` atomically (temporary file, rename), mode 0600.
pub(crate) fn write_json(
    path: &Path,
    value: &impl Serialize,
    durability: Durability,
) -> Result<(), SupervisorError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| SupervisorError::state(path, std::io::Error::other(e)))?;
    write_atomic(path, &bytes, durability)
}

/// Flushes `files` (those that exist) and then their directories to disk.
pub(crate) fn sync_files(files: &[PathBuf]) {
    for file in files {
        if let Ok(f) = std::fs::File::open(file) {
            let _ = f.sync_all();
        }
    }
    let mut dirs: Vec<&Path> = files.iter().filter_map(|f| f.parent()).collect();
    dirs.dedup();
    for dir in dirs {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Writes `bytes` to `path` atomically, mode 0600.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), SupervisorError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| SupervisorError::state(path, e))
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, SupervisorError> {
    let bytes = std::fs::read(path).map_err(|e| SupervisorError::state(path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SupervisorError::state(path, std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        assert!(!RestartPolicy::No.restarts(1));
        assert!(RestartPolicy::OnFailure.restarts(1));
        assert!(!RestartPolicy::OnFailure.restarts(0));
        assert!(RestartPolicy::Always.restarts(0));
    }

    #[test]
    fn records_round_trip_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let state = RunState::never_started();
        write_json(&path, &state, Durability::Later).unwrap();
        assert_eq!(read_json::<RunState>(&path).unwrap(), state);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
