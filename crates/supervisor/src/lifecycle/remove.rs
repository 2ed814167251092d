//! `cordon stop` and `cordon rm`.
//!
//! Stop goes through the supervisor (it forwards SIGTERM to the main process, SIGKILL to
//! the whole sandbox after the timeout, then exits); the caller waits until the
//! supervisor's lock is free, which is when nothing of the sandbox is left. Removing
//! needs that lock itself, so a sandbox is never deleted under a running supervisor.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use cordon_control::api::{self, Stop};
use http::Method;

use crate::error::SupervisorError;
use crate::lifecycle::client::block_on;
use crate::state::{SandboxDir, State, StateRoot};
use crate::workdir::random_hex;

/// How long `stop` waits beyond its timeout for the supervisor to finish (flushing logs
/// and the audit file) before reporting failure.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often `stop` looks at the supervisor's lock.
const STOP_POLL: Duration = Duration::from_millis(5);

/// Stops `name`: SIGTERM to its main process, SIGKILL to everything after `timeout`.
/// Returns whether it was running.
pub fn stop(root: &StateRoot, name: &str, timeout: Duration) -> Result<bool, SupervisorError> {
    let dir = root.sandbox(name)?;
    stop_dir(&dir, timeout)
}

fn stop_dir(dir: &SandboxDir, timeout: Duration) -> Result<bool, SupervisorError> {
    if !dir.supervisor_alive()? {
        // A crashed sandbox: acknowledge it.
        let state = dir.read_state()?;
        if matches!(state.state, State::Running | State::Restarting) {
            dir.update_state(|s| {
                s.state = State::Stopped;
                s.supervisor_pid = None;
                s.init_pid = None;
                s.reason = Some("its supervisor had died; marked stopped by `cordon stop`".into());
            })?;
        }
        return Ok(false);
    }
    // Recorded first: a supervisor between two runs of the main process (restart
    // back-off) has no control socket, but reads this before starting it again.
    dir.update_state(|s| s.stop_requested = true)?;
    let client = cordon_control::Client::new(&dir.control_socket());
    let request = Stop {
        timeout_ms: timeout.as_millis() as u64,
    };
    // The supervisor may be exiting already; the lock below is the answer that counts.
    let _ = block_on(client.request(Method::POST, api::STOP, Some(&request)));
    if !exits_within(dir, timeout + STOP_GRACE)? {
        return Err(SupervisorError::StartFailed {
            kind: crate::error::FailureKind::Cordon,
            message: format!("sandbox {:?} did not stop", dir.name()),
        });
    }
    Ok(true)
}

/// Whether the supervisor's lock is free within `wait` (looked at every [`STOP_POLL`]).
fn exits_within(dir: &SandboxDir, wait: Duration) -> Result<bool, SupervisorError> {
    let deadline = Instant::now() + wait;
    while dir.supervisor_alive()? {
        if Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(STOP_POLL);
    }
    Ok(true)
}

/// Removes `name` and everything under its state directory (its own workdir included;
/// a `--workdir` given at create stays). A running sandbox is refused unless `force`,
/// which stops it without grace first.
pub fn remove(root: &StateRoot, name: &str, force: bool) -> Result<(), SupervisorError> {
    let dir = root.sandbox(name)?;
    if dir.supervisor_alive()? {
        if !force {
            if !finishing(&dir)? {
                return Err(SupervisorError::Running(name.to_owned()));
            }
        } else {
            stop_dir(&dir, Duration::ZERO)?;
        }
    }
    let Some(_lock) = dir.try_lock_supervisor()? else {
        return Err(SupervisorError::Running(name.to_owned()));
    };
    let doomed = root
        .sandboxes()
        .join(format!(".{name}.removing-{}", random_hex(4)));
    std::fs::rename(dir.path(), &doomed).map_err(|e| SupervisorError::state(dir.path(), e))?;
    remove_tree(&doomed);
    Ok(())
}

/// How long `rm` waits for a supervisor whose sandbox already ended to finish.
const FINISH_GRACE: Duration = Duration::from_secs(3);

/// How long `rm` watches a running sandbox for its end before refusing it: a command
/// that ends at once (`create NAME -- true; rm NAME`) is still running for a few ms.
const ENDING_GRACE: Duration = Duration::from_millis(250);

/// Whether a live supervisor is only finishing: its sandbox's init is gone (the main
/// process exited) or goes within [`ENDING_GRACE`], and the supervisor then exits
/// within [`FINISH_GRACE`] (flushing the log and audit files). A supervisor that
/// restarts the main process instead is running.
fn finishing(dir: &SandboxDir) -> Result<bool, SupervisorError> {
    let watch_until = Instant::now() + ENDING_GRACE;
    loop {
        if !dir.supervisor_alive()? {
            return Ok(true);
        }
        let state = dir.read_state()?;
        if state.init_pid.is_some_and(|pid| !process_lives(pid)) {
            break;
        }
        if Instant::now() > watch_until {
            return Ok(false);
        }
        std::thread::sleep(STOP_POLL);
    }
    exits_within(dir, FINISH_GRACE)
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn process_lives(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself hold ") ".
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Removes a directory tree, first making every directory in it writable by us (the agent
/// may have left a `chmod 000` behind).
pub(crate) fn remove_tree(path: &Path) {
    if std::fs::remove_dir_all(path).is_ok() {
        return;
    }
    open_up(path);
    let _ = std::fs::remove_dir_all(path);
}

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
