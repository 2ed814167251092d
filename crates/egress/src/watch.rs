//! Watching the policy file given at start and reloading it when it changes.
//!
//! The directory is watched, not the file: editors save by writing a temporary file
//! and renaming it over the original, which replaces the inode a file watch would
//! follow. Events are debounced (a save is several events), then the file is read,
//! parsed, validated and compiled off the proxy's hot path and swapped in through
//! [`PolicyHandle::apply`] — the same path the control API uses. A file that does not
//! parse or changes static sections is refused with an audit line; the previous
//! generation keeps running.

use std::path::Path;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use cordon_audit::AuditSink;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::error::{EgressError, ReloadError};
use crate::generation::PolicyHandle;

/// Quiet time after the last file event before reloading: one save is a burst of
/// create/modify/rename events within a few milliseconds. With inotify's own latency
/// and a millisecond-scale compile, a saved policy is in force well within 100 ms.
pub const RELOAD_DEBOUNCE: Duration = Duration::from_millis(50);

/// Reads, validates and applies the policy file: the one reload function behind the
/// watcher, SIGHUP and `cordon policy set`. Returns the new generation number.
pub fn reload_file(
    path: &Path,
    policy: &PolicyHandle,
    audit: &AuditSink,
    sandbox: &str,
) -> Result<u64, ReloadError> {
    let source = path.display().to_string();
    match cordon_policy::load_file(path) {
        Ok(loaded) => policy.apply(&loaded.policy, &source, sandbox, audit),
        Err(err) => Err(policy.reject(&err.to_string(), &source, sandbox, audit)),
    }
}

/// A running watch of one policy file. Dropping it stops watching.
pub struct PolicyWatcher {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PolicyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWatcher").finish_non_exhaustive()
    }
}

impl PolicyWatcher {
    /// Watches `path` and applies every change to `policy`, auditing into `audit`.
    /// The file's current contents are taken as already applied.
    pub fn start(
        path: &Path,
        policy: PolicyHandle,
        audit: AuditSink,
        sandbox: &str,
    ) -> Result<PolicyWatcher, EgressError> {
        let fail = |message: String| EgressError::Watch {
            path: path.to_owned(),
            message,
        };
        let path = std::path::absolute(path).map_err(|err| fail(err.to_string()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| fail("the policy file has no parent directory".into()))?;
        let name = path
            .file_name()
            .map(|n| n.to_owned())
            .ok_or_else(|| fail("the policy path names no file".into()))?;
        let (tx, rx) = channel::<notify::Result<Event>>();
        let mut watcher = notify::recommended_watcher(tx).map_err(|err| fail(err.to_string()))?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|err| fail(err.to_string()))?;
        let sandbox = sandbox.to_owned();
        let mut last_seen = std::fs::read(&path).ok();
        let thread = std::thread::Builder::new()
            .name("cordon-policy-watch".into())
            .spawn(move || {
                let concerns_file = |event: &Event| {
                    relevant_kind(&event.kind)
                        && event
                            .paths
                            .iter()
                            .any(|p| p.file_name() == Some(name.as_os_str()))
                };
                while let Ok(event) = rx.recv() {
                    if !event.as_ref().is_ok_and(concerns_file) {
                        continue;
                    }
                    // Debounce: wait for RELOAD_DEBOUNCE without another event on the
                    // file. Other files in the directory (an audit log written next to
                    // the policy) must not postpone the reload.
                    let mut quiet_since = std::time::Instant::now();
                    loop {
                        let left = RELOAD_DEBOUNCE.saturating_sub(quiet_since.elapsed());
                        match rx.recv_timeout(left) {
                            Ok(event) if event.as_ref().is_ok_and(concerns_file) => {
                                quiet_since = std::time::Instant::now();
                            }
                            Ok(_) => {}
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    // Missing while an editor swaps files: the rename's own event follows.
                    let Ok(contents) = std::fs::read(&path) else {
                        continue;
                    };
                    if last_seen.as_ref() == Some(&contents) {
                        continue;
                    }
                    last_seen = Some(contents);
                    let _ = reload_file(&path, &policy, &audit, &sandbox);
                }
            })
            .map_err(|err| fail(err.to_string()))?;
        Ok(PolicyWatcher {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

/// Writes, creations, renames and deletions; not reads (our own reads of the file
/// would otherwise wake us again).
fn relevant_kind(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Any
        | EventKind::Other => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
    }
}

impl Drop for PolicyWatcher {
    fn drop(&mut self) {
        // Dropping the watcher closes the event channel, which ends the thread.
        self.watcher.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
