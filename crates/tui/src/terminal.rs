//! The terminal side of `cordon term`: raw mode and the alternate screen for the life of
//! the UI, put back on every way out — normal return, error, and panic (a hook restores
//! the terminal before the panic message prints, so the message is readable and the
//! shell is usable). No mouse capture, no keyboard protocol extensions, no true colour:
//! what works in a plain xterm over SSH or in tmux.

use std::io::{IsTerminal, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::cursor::{Hide, Show};
use crossterm::event::{self, Event};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::app::App;
use crate::error::TuiError;
use crate::source::Source;
use crate::theme::Theme;
use crate::ui;

/// Longest the loop sleeps waiting for a key: keeps the screen responsive to a
/// requested refresh even when the refresh interval is long.
const MAX_WAIT: Duration = Duration::from_millis(250);

/// The refresh interval may not be longer than this (the screen is "live").
pub const MAX_REFRESH: Duration = Duration::from_secs(1);

/// How `cordon term` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The sandbox selected at start.
    pub select: Option<String>,
    /// How often data is fetched (capped at [`MAX_REFRESH`]).
    pub refresh: Duration,
    /// Colours on.
    pub color: bool,
}

/// Whether the terminal is in our modes (restore exactly once, from whichever path
/// gets there first: the guard's drop or the panic hook).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// Puts the terminal back: leaves the alternate screen, shows the cursor, leaves raw
/// mode. Every step is tried even if an earlier one fails.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

/// Raw mode and the alternate screen while it lives.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<TerminalGuard, TuiError> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        enable_raw_mode().map_err(TuiError::Terminal)?;
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard;
        execute!(stdout(), EnterAlternateScreen, Hide).map_err(TuiError::Terminal)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Runs the UI on the controlling terminal until the user quits.
pub fn run(source: &mut dyn Source, options: &Options) -> Result<(), TuiError> {
    if !stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(TuiError::Terminal(std::io::Error::other(
            "cordon term needs a terminal on stdin and stdout (use `cordon list`, `cordon logs --audit` in scripts)",
        )));
    }
    let refresh = options.refresh.min(MAX_REFRESH);
    let _guard = TerminalGuard::enter()?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(stdout())).map_err(TuiError::Terminal)?;
    terminal.clear().map_err(TuiError::Terminal)?;
    let mut app = App::new(options.select.as_deref());
    let theme = Theme::new(options.color);
    let mut last: Option<Instant> = None;
    loop {
        if app.refresh_requested || last.is_none_or(|t| t.elapsed() >= refresh) {
            app.refresh(source, cordon_audit::now_ms());
            last = Some(Instant::now());
        }
        terminal
            .draw(|frame| ui::render(frame, &app, theme))
            .map_err(TuiError::Terminal)?;
        let since = last.map_or(Duration::ZERO, |t| t.elapsed());
        let wait = refresh.saturating_sub(since).min(MAX_WAIT);
        if event::poll(wait).map_err(TuiError::Terminal)? {
            // Resizes need nothing but the redraw the loop does anyway.
            if let Event::Key(key) = event::read().map_err(TuiError::Terminal)? {
                app.on_key(key, source);
            }
        }
        if app.quit {
            return Ok(());
        }
    }
}
