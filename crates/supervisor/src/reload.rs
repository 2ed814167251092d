//! Hot reload of `cordon run --policy FILE`: the file is watched and every change goes
//! through `cordon_egress::reload_file` (parse, validate, refuse static-section changes,
//! compile, swap, audit) — the same function `cordon policy set` uses. What this module
//! adds is telling the operator: each outcome is printed on stderr, because the person
//! editing the file is looking at the terminal, not at the audit log.
//!
//! The directory is watched, not the file (editors save by renaming a temporary file over
//! the original), events are debounced by `cordon_egress::RELOAD_DEBOUNCE`, and a save
//! that leaves the contents unchanged is ignored.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use cordon_audit::AuditSink;
use cordon_egress::{PolicyHandle, RELOAD_DEBOUNCE, reload_file};
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::error::SupervisorError;

/// A running watch of one policy file; dropping it stops the watch.
pub(crate) struct FileReloader {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FileReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReloader").finish_non_exhaustive()
    }
}

/// What the reload thread needs.
struct Target {
    path: PathBuf,
    policy: PolicyHandle,
    audit: AuditSink,
    sandbox: String,
    /// Print applied reloads too (`-v`); rejections are always printed.
    verbose: bool,
}

impl FileReloader {
    /// Watches `path`; its current contents count as applied already.
    pub(crate) fn start(
        path: &Path,
        policy: PolicyHandle,
        audit: AuditSink,
        sandbox: &str,
        verbose: bool,
    ) -> Result<FileReloader, SupervisorError> {
        let fail = |message: String| SupervisorError::Watch {
            path: path.to_path_buf(),
            message,
        };
        let path = std::path::absolute(path).map_err(|e| fail(e.to_string()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| fail("the policy file has no parent directory".into()))?;
        let (tx, rx) = channel::<notify::Result<Event>>();
        let mut watcher = notify::recommended_watcher(tx).map_err(|e| fail(e.to_string()))?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| fail(e.to_string()))?;
        let target = Target {
            path,
            policy,
            audit,
            sandbox: sandbox.to_owned(),
            verbose,
        };
        let thread = std::thread::Builder::new()
            .name("cordon-reload".into())
            .spawn(move || watch_loop(&target, &rx))
            .map_err(|e| fail(e.to_string()))?;
        Ok(FileReloader {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

fn watch_loop(target: &Target, rx: &Receiver<notify::Result<Event>>) {
    let name = target.path.file_name().map(|n| n.to_owned());
    let concerns_file = |event: &notify::Result<Event>| {
        event.as_ref().is_ok_and(|event| {
            relevant(&event.kind) && event.paths.iter().any(|p| p.file_name() == name.as_deref())
        })
    };
    let mut last_seen = std::fs::read(&target.path).ok();
    while let Ok(event) = rx.recv() {
        if !concerns_file(&event) {
            continue;
        }
        // Debounce: one save is a burst of events; other files in the directory (an
        // audit log next to the policy) must not postpone the reload.
        let mut quiet_since = Instant::now();
        loop {
            match rx.recv_timeout(RELOAD_DEBOUNCE.saturating_sub(quiet_since.elapsed())) {
                Ok(event) if concerns_file(&event) => quiet_since = Instant::now(),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        // Missing while an editor swaps files: the rename's own event follows.
        let Ok(contents) = std::fs::read(&target.path) else {
            continue;
        };
        if last_seen.as_ref() == Some(&contents) {
            continue;
        }
        last_seen = Some(contents);
        match reload_file(&target.path, &target.policy, &target.audit, &target.sandbox) {
            Ok(generation) if target.verbose => eprintln!(
                "cordon: policy {} reloaded: generation {generation} in force",
                target.path.display()
            ),
            Ok(_) => {}
            Err(err) => eprintln!("cordon: {}: {err}", target.path.display()),
        }
    }
}

/// Writes, creations, renames and deletions; not reads (our own reads would wake us).
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

impl Drop for FileReloader {
    fn drop(&mut self) {
        // Dropping the watcher closes the event channel, which ends the thread.
        self.watcher.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
