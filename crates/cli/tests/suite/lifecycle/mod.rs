//! Named sandboxes end to end: `create`, `list`, `status`, `exec`, `connect`, `logs`,
//! `policy get/set`, `stop`, `start`, `rm`, as root and rootless (uid 65534), each test
//! with a state directory of its own (`XDG_STATE_HOME`). Every sandbox a test creates is
//! removed when its [`Fleet`] goes, pass or fail, so no supervisor outlives a test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod basics;
mod exec;
mod fail_closed;
mod heavy;
mod logs;
mod policy;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{Mode, NOBODY, Run, WorldDir, cordon, cordon_bin};

/// How long a test waits for something that should happen in milliseconds (a safety
/// net against hangs, never a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `check` until it holds or [`PATIENCE`] runs out.
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The sandboxes of one test: one user (`mode`), one state directory.
pub struct Fleet {
    pub mode: Mode,
    /// World-writable parent; the user's `XDG_STATE_HOME` is a directory below it that
    /// the user creates itself (so it owns it).
    dir: WorldDir,
}

impl Fleet {
    pub fn new(mode: Mode) -> Fleet {
        Fleet {
            mode,
            dir: WorldDir::new(true),
        }
    }

    /// This fleet's `XDG_STATE_HOME`.
    pub fn state_home(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The directory of sandbox `name`.
    pub fn sandbox_dir(&self, name: &str) -> PathBuf {
        self.state_home().join("cordon/sandboxes").join(name)
    }

    /// A world-readable (and, with `writable`, writable) scratch directory.
    pub fn scratch(&self) -> &WorldDir {
        &self.dir
    }

    /// `cordon <args>` as this fleet's user, with its state directory.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        cordon(self.mode, args)
            .env("XDG_STATE_HOME", self.state_home().to_str().unwrap())
            .env("SHELL", "/bin/sh")
            .run()
    }

    /// Same, feeding `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        cordon(self.mode, args)
            .env("XDG_STATE_HOME", self.state_home().to_str().unwrap())
            .env("SHELL", "/bin/sh")
            .stdin(input)
            .run()
    }

    /// `cordon <args>` as this fleet's user, in the background (output piped).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        let bin = cordon_bin(self.mode);
        let mut cmd = match self.mode {
            Mode::Root => std::process::Command::new(bin),
            Mode::Rootless => {
                let mut cmd = std::process::Command::new("setpriv");
                cmd.args([
                    format!("--reuid={NOBODY}"),
                    format!("--regid={NOBODY}"),
                    "--clear-groups".into(),
                ]);
                cmd.arg(bin);
                cmd
            }
        };
        cmd.args(args)
            .env("XDG_STATE_HOME", self.state_home())
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `cordon status NAME --json`.
    pub fn status(&self, name: &str) -> Value {
        let run = self.run(["status", name, "--json"]);
        serde_json::from_str(run.ok()).unwrap()
    }

    /// `cordon list --json`.
    pub fn list(&self) -> Vec<Value> {
        let run = self.run(["list", "--json"]);
        serde_json::from_str(run.ok()).unwrap()
    }

    /// The recorded `state.json` of `name`.
    pub fn record(&self, name: &str) -> Value {
        let text = std::fs::read_to_string(self.sandbox_dir(name).join("state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.state_home().join("cordon/sandboxes")) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
            {
                let _ = self.run(["rm", "--force", name]);
            }
        }
    }
}

/// Host pids of every process in the pid namespace of `pid` (none once it is gone).
pub fn processes_in_namespace_of(ns: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == ns))
        .collect()
}
