//! The agent's pseudo-terminal for `-t`: allocated by the supervisor (outside the sandbox),
//! the agent gets the terminal end as its controlling terminal and stdio, the supervisor
//! relays bytes between the master and its own terminal, set to raw mode meanwhile.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::pty::OpenptFlags;
use rustix::termios::{OptionalActions, Termios, Winsize};

/// Size used when the caller has no terminal to copy from.
const DEFAULT_SIZE: Winsize = Winsize {
    ws_row: 24,
    ws_col: 80,
    ws_xpixel: 0,
    ws_ypixel: 0,
};

/// Both ends of a new pseudo-terminal.
#[derive(Debug)]
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub terminal: OwnedFd,
}

/// Opens a pty whose size matches the caller's terminal (or 80x24).
pub(crate) fn open() -> io::Result<Pty> {
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    // TIOCGPTPEER opens the peer through the master itself: no path lookup to race.
    let terminal = rustix::pty::ioctl_tiocgptpeer(&master, flags)?;
    copy_size(&master);
    Ok(Pty { master, terminal })
}

/// The caller's terminal size (stdin, else stdout).
fn host_size() -> Option<Winsize> {
    [rustix::stdio::stdin(), rustix::stdio::stdout()]
        .into_iter()
        .find_map(|fd| rustix::termios::tcgetwinsize(fd).ok())
}

/// Copies the caller's terminal size onto the pty; the kernel then signals SIGWINCH to the
/// pty's foreground process group.
pub(crate) fn copy_size(master: &OwnedFd) {
    let size = host_size().unwrap_or(DEFAULT_SIZE);
    let _ = rustix::termios::tcsetwinsize(master, size);
}

/// The caller's terminal in raw mode until dropped (then restored as it was).
#[derive(Debug)]
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Switches stdin to raw mode when it is a terminal; `None` otherwise.
    pub(crate) fn enter() -> Option<RawMode> {
        let stdin = rustix::stdio::stdin();
        if !rustix::termios::isatty(stdin) {
            return None;
        }
        let saved = rustix::termios::tcgetattr(stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ =
            rustix::termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// Whether `fd` is a terminal.
pub(crate) fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    rustix::termios::isatty(fd.as_fd())
}
