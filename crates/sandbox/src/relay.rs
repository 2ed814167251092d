//! Byte relay between the caller's terminal and the agent's pty (`-t`): master output to our
//! stdout, our stdin to the master (with `-i`), and window-size changes onto the pty.

use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::tty::{self, RawMode};

/// Bytes moved per read: one pty buffer's worth.
const CHUNK: usize = 16 * 1024;

/// How long the final drain waits for the pty's last bytes before giving up (the kernel
/// moves pty output through a work queue, so it can trail the writer's exit slightly).
const DRAIN_TIMEOUT: Timespec = Timespec {
    tv_sec: 2,
    tv_nsec: 0,
};

/// The `-t` plumbing of one sandbox.
#[derive(Debug)]
pub(crate) struct Relay {
    master: OwnedFd,
    /// Still forwarding our stdin (`-i` and not at end-of-file).
    stdin_open: bool,
    /// The pty still has a reader/writer inside.
    master_open: bool,
    /// Our terminal in raw mode while we forward it; restored on drop.
    _raw: Option<RawMode>,
}

fn write_all(fd: impl AsFd, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match rustix::io::write(&fd, bytes) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

impl Relay {
    /// Starts relaying; with `forward_stdin`, the caller's terminal switches to raw mode so
    /// every key (including ^C) reaches the agent's terminal.
    pub(crate) fn new(master: OwnedFd, forward_stdin: bool) -> Relay {
        let raw = if forward_stdin {
            RawMode::enter()
        } else {
            None
        };
        Relay {
            master,
            stdin_open: forward_stdin,
            master_open: true,
            _raw: raw,
        }
    }

    /// Adds the descriptors to watch, in the order [`Relay::pump`] expects.
    pub(crate) fn poll_fds<'a>(&'a self, fds: &mut Vec<PollFd<'a>>) {
        if self.master_open {
            fds.push(PollFd::new(&self.master, PollFlags::IN));
        }
        if self.stdin_open {
            fds.push(PollFd::from_borrowed_fd(
                rustix::stdio::stdin(),
                PollFlags::IN,
            ));
        }
    }

    /// Moves whatever is ready; `ready` are the revents of [`Relay::poll_fds`]'s entries.
    pub(crate) fn pump(&mut self, ready: &[PollFlags]) {
        let mut ready = ready.iter();
        let mut buf = vec![0u8; CHUNK];
        if self.master_open && ready.next().is_some_and(|r| !r.is_empty()) {
            match rustix::io::read(&self.master, &mut buf) {
                Ok(n) if n > 0 => {
                    write_all(rustix::stdio::stdout(), &buf[..n]);
                }
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                // EIO: every terminal end inside is closed.
                _ => self.master_open = false,
            }
        }
        if self.stdin_open && ready.next().is_some_and(|r| !r.is_empty()) {
            match rustix::io::read(rustix::stdio::stdin(), &mut buf) {
                Ok(n) if n > 0 => {
                    if !write_all(&self.master, &buf[..n]) {
                        self.stdin_open = false;
                    }
                }
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                _ => {
                    self.stdin_open = false;
                    // Piped input ended: pass the terminal's end-of-file character on, so a
                    // program reading its terminal sees EOF as it would from a keyboard.
                    if !tty::is_terminal(rustix::stdio::stdin()) {
                        write_all(&self.master, b"\x04");
                    }
                }
            }
        }
    }

    /// Copies the caller's window size onto the pty (on SIGWINCH).
    pub(crate) fn resize(&self) {
        tty::copy_size(&self.master);
    }

    /// After the agent exited: copies the pty's remaining output.
    pub(crate) fn drain(&mut self) {
        let mut buf = vec![0u8; CHUNK];
        while self.master_open {
            let mut fds = [PollFd::new(&self.master, PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&DRAIN_TIMEOUT)) {
                Ok(0) => break,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
            match rustix::io::read(&self.master, &mut buf) {
                Ok(n) if n > 0 => {
                    write_all(rustix::stdio::stdout(), &buf[..n]);
                }
                Err(rustix::io::Errno::INTR) => {}
                _ => self.master_open = false,
            }
        }
    }
}
