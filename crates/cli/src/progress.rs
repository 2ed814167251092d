//! A spinner for operations that may take a while (`create`, `start`, `stop`): nothing
//! at all when they finish within a second, otherwise `⠋ creating sandbox web…` on
//! stderr until they do, then the line is erased. Only on a terminal (never in pipes,
//! logs or CI) and never with `TERM=dumb`; stdout is never touched, so `--json` output
//! and scripts see the same bytes with or without it.
//!
//! ```ignore
//! let spinner = progress::Spinner::start(format!("creating sandbox {name}"));
//! let result = lifecycle::create(&root, options);
//! spinner.finish();
//! ```
#![allow(
    dead_code,
    reason = "a helper for create/start/stop; their owners adopt it (see docs/cli.md)"
)]

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Operations shorter than this show nothing.
pub const DELAY: Duration = Duration::from_secs(1);

/// Time between two frames.
const FRAME: Duration = Duration::from_millis(100);

/// Erase the current line and return to its start (ECMA-48 EL 2).
const CLEAR_LINE: &str = "\r\x1b[2K";

/// Shown while an operation runs; erased when it ends (`finish` or drop).
pub struct Spinner {
    running: Option<Running>,
}

struct Running {
    /// `true` once the operation ended; the condvar wakes the thread at once.
    done: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

/// Whether this terminal can be expected to draw braille dots.
fn unicode() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}

/// Whether to spin: stderr is a terminal that understands cursor controls.
fn wanted(stderr_is_terminal: bool, term: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && term.is_none_or(|t| t != "dumb")
}

impl Spinner {
    /// Starts the spinner for `message` on stderr, if stderr is a terminal.
    pub fn start(message: impl Into<String>) -> Spinner {
        if !wanted(std::io::stderr().is_terminal(), std::env::var_os("TERM")) {
            return Spinner { running: None };
        }
        let frames: &'static [&'static str] = if unicode() {
            &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        } else {
            &["|", "/", "-", "\\"]
        };
        Spinner::on(Box::new(std::io::stderr()), message.into(), DELAY, frames)
    }

    /// The spinner drawing into `out` after `delay` (tests hand in a buffer).
    fn on(
        mut out: Box<dyn Write + Send>,
        message: String,
        delay: Duration,
        frames: &'static [&'static str],
    ) -> Spinner {
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let shared = Arc::clone(&done);
        let spawned = std::thread::Builder::new()
            .name("cordon-spinner".into())
            .spawn(move || {
                let (lock, wake) = &*shared;
                let Ok(mut finished) = lock.lock() else {
                    return;
                };
                let mut wait = delay;
                let mut drawn = false;
                for frame in frames.iter().cycle() {
                    match wake.wait_timeout_while(finished, wait, |f| !*f) {
                        Ok((guard, _)) => finished = guard,
                        Err(_) => return,
                    }
                    if *finished {
                        break;
                    }
                    let _ = write!(out, "{CLEAR_LINE}{frame} {message}…");
                    let _ = out.flush();
                    drawn = true;
                    wait = FRAME;
                }
                if drawn {
                    let _ = write!(out, "{CLEAR_LINE}");
                    let _ = out.flush();
                }
            });
        Spinner {
            running: spawned.ok().map(|thread| Running { done, thread }),
        }
    }

    /// Stops the spinner and erases its line (also done on drop).
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        let (lock, wake) = &*running.done;
        if let Ok(mut finished) = lock.lock() {
            *finished = true;
        }
        wake.notify_all();
        let _ = running.thread.join();
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_quick_operation_shows_nothing() {
        let buffer = Buffer::default();
        let spinner = Spinner::on(
            Box::new(buffer.clone()),
            "creating".into(),
            Duration::from_secs(3600),
            &["|"],
        );
        spinner.finish();
        assert_eq!(buffer.text(), "");
    }

    #[test]
    fn a_slow_operation_spins_then_erases_its_line() {
        let buffer = Buffer::default();
        let spinner = Spinner::on(
            Box::new(buffer.clone()),
            "creating sandbox web".into(),
            Duration::ZERO,
            &["|", "/"],
        );
        // Wait for the first frame (a safety net against hangs, not a timing check).
        for _ in 0..2000 {
            if !buffer.text().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(spinner);
        let text = buffer.text();
        assert!(
            text.starts_with("\r\x1b[2K| creating sandbox web…"),
            "{text:?}"
        );
        assert!(text.ends_with(CLEAR_LINE), "{text:?}");
    }

    #[test]
    fn only_on_a_terminal_that_is_not_dumb() {
        assert!(wanted(true, Some("xterm-256color".into())));
        assert!(wanted(true, None));
        assert!(!wanted(false, Some("xterm".into())));
        assert!(!wanted(true, Some("dumb".into())));
    }
}
