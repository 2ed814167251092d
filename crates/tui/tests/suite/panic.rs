//! A panic inside the UI must leave the terminal usable: the panic hook restores it
//! before the message prints. Checked for real: this test runs itself again inside
//! tmux (the child: the UI over a scripted source whose `approve` panics), presses `2`
//! and `a`, then reads the terminal's state after the child died — main screen, cursor
//! visible, cooked mode — and the panic message on it. The twin in the CLI suite
//! (`tui_term.rs`) checks the same after a normal `q`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cordon_control::api::LiveStatus;
use cordon_tui::{
    Approval, ApproveOptions, AuditChunk, AuditCursor, InferenceView, Options, PolicyView,
    SandboxRow, Source, TuiError,
};

use super::fake::Fake;

/// Set in the child's environment.
const CHILD: &str = "CORDON_TUI_PANIC_CHILD";
const NAME: &str = "suite::panic::a_panic_in_the_ui_leaves_the_terminal_clean";

/// The scripted source, except that approving panics.
struct Panicky(Fake);

impl Source for Panicky {
    fn sandboxes(&mut self) -> Result<Vec<SandboxRow>, TuiError> {
        self.0.sandboxes()
    }
    fn status(&mut self, name: &str) -> Result<Option<LiveStatus>, TuiError> {
        self.0.status(name)
    }
    fn audit(
        &mut self,
        name: &str,
        cursor: Option<AuditCursor>,
        tail: usize,
    ) -> Result<AuditChunk, TuiError> {
        self.0.audit(name, cursor, tail)
    }
    fn approvals(&mut self, name: &str) -> Result<Vec<Approval>, TuiError> {
        self.0.approvals(name)
    }
    fn approve(&mut self, _: &str, _: &str, _: ApproveOptions) -> Result<Option<u64>, TuiError> {
        panic!("scripted panic for the test");
    }
    fn deny(&mut self, name: &str, id: &str) -> Result<(), TuiError> {
        self.0.deny(name, id)
    }
    fn policy(&mut self, name: &str) -> Result<PolicyView, TuiError> {
        self.0.policy(name)
    }
    fn inference(&mut self, name: &str) -> Result<Option<InferenceView>, TuiError> {
        self.0.inference(name)
    }
}

fn tmux(socket: &Path, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(args)
        .output()
        .expect("tmux is required for this test (apt-get install tmux)");
    assert!(out.status.success(), "tmux {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` for up to 20 s (a safety net against hangs, not a timing check).
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

struct Server(PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn a_panic_in_the_ui_leaves_the_terminal_clean() {
    if std::env::var_os(CHILD).is_some() {
        // The child, inside tmux: panics when `a` is pressed.
        let options = Options {
            select: None,
            refresh: Duration::from_millis(200),
            color: true,
        };
        let _ = cordon_tui::run(&mut Panicky(Fake::new()), &options);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tmux.sock");
    let report = dir.path().join("report");
    let exe = std::env::current_exe().unwrap();
    let command = format!(
        "env {CHILD}=1 RUST_BACKTRACE=0 {} --exact {NAME} --nocapture --test-threads=1; echo \"exit=$?\" > {r}.tmp; \
         stty -a >> {r}.tmp; mv {r}.tmp {r}; exec sleep 600",
        exe.display(),
        r = report.display()
    );
    let _server = Server(socket.clone());
    let size = ["-x", "80", "-y", "24"];
    let mut args = vec!["-f", "/dev/null", "new-session", "-d", "-s", "t"];
    args.extend(size);
    args.push(&command);
    tmux(&socket, &args);
    let screen = || tmux(&socket, &["capture-pane", "-p", "-t", "t"]);
    let pane = |var: &str| {
        tmux(
            &socket,
            &["display-message", "-p", "-t", "t", &format!("#{{{var}}}")],
        )
        .trim()
        .to_owned()
    };
    assert!(
        eventually(|| screen().contains("evil.test:443")),
        "the UI never drew:\n{}",
        screen()
    );
    assert_eq!(pane("alternate_on"), "1");
    tmux(&socket, &["send-keys", "-t", "t", "-l", "2a"]);
    assert!(
        eventually(|| report.exists()),
        "the child did not end:\n{}",
        screen()
    );
    let report = std::fs::read_to_string(&report).unwrap();
    // libtest's exit code for a failed test: the panic really happened.
    assert!(report.starts_with("exit=101\n"), "{report}");
    let words: Vec<&str> = report.split_whitespace().collect();
    for mode in ["icanon", "echo", "isig", "opost"] {
        assert!(
            words.contains(&mode),
            "terminal left without {mode}:\n{report}"
        );
    }
    assert_eq!(pane("alternate_on"), "0", "still on the alternate screen");
    assert_eq!(pane("cursor_flag"), "1", "cursor left hidden");
    let screen = screen();
    assert!(!screen.contains("Sandboxes ["), "{screen}");
    // The message printed after the restore: on the main screen, in cooked mode (each
    // line starts at the left margin; in raw mode it would staircase to the right).
    let history = tmux(&socket, &["capture-pane", "-p", "-S", "-", "-t", "t"]);
    assert!(
        history.lines().any(|l| l == "scripted panic for the test"),
        "{history}"
    );
}
