//! A real terminal for the tests of full-screen commands (`cordon term`, `cordon
//! onboard`): a private tmux server with one session, driven with `send-keys` and read
//! back with `capture-pane`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;
use std::process::Command;

use super::common::{WorldDir, require};
use super::lifecycle::eventually;

/// A private tmux server with one session (`t`) running `command` under `sh`. The pane
/// stays after the command ends, to inspect what it left behind.
pub struct Tmux {
    socket: PathBuf,
    _dir: WorldDir,
}

impl Tmux {
    /// 80×24, the size the UI must work at.
    pub fn start(command: &str) -> Tmux {
        Tmux::sized(command, 80, 24)
    }

    pub fn sized(command: &str, columns: u16, rows: u16) -> Tmux {
        require("tmux");
        let dir = WorldDir::new(true);
        let tmux = Tmux {
            socket: dir.path().join("tmux.sock"),
            _dir: dir,
        };
        let (columns, rows) = (columns.to_string(), rows.to_string());
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &columns,
            "-y",
            &rows,
            command,
        ]);
        tmux.run(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// The screen and the last 100 lines scrolled off it.
    pub fn history(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t", "-S", "-100"])
    }

    /// The screen with its attributes as SGR escape sequences.
    pub fn screen_with_escapes(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", "t"])
    }

    /// Waits until the screen shows every one of `needles`; returns it.
    #[track_caller]
    pub fn wait_for(&self, needles: &[&str]) -> String {
        self.wait_in(needles, Tmux::screen)
    }

    /// As [`Tmux::wait_for`], looking at the scrolled-off lines too.
    #[track_caller]
    pub fn wait_in_history(&self, needles: &[&str]) -> String {
        self.wait_in(needles, Tmux::history)
    }

    #[track_caller]
    fn wait_in(&self, needles: &[&str], capture: fn(&Tmux) -> String) -> String {
        let mut screen = String::new();
        let found = eventually(|| {
            screen = capture(self);
            needles.iter().all(|n| screen.contains(n))
        });
        assert!(found, "the screen never showed {needles:?}:\n{screen}");
        screen
    }

    /// Types `keys` literally.
    pub fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "t", "-l", keys]);
    }

    /// Presses a named key (`Enter`, `Escape`, `Down`).
    pub fn press(&self, key: &str) {
        self.run(&["send-keys", "-t", "t", key]);
    }

    /// A tmux format variable of the pane (`pane_dead`, `alternate_on`, `cursor_flag`).
    pub fn pane(&self, variable: &str) -> String {
        self.run(&[
            "display-message",
            "-p",
            "-t",
            "t",
            &format!("#{{{variable}}}"),
        ])
        .trim()
        .to_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}
