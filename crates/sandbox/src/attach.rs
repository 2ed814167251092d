//! The caller's side of a process started in a running sandbox (`cordon exec`): while it
//! runs, relay the terminal (when it has a pty) and pass on the signals the caller gets,
//! until the supervisor says it ended. The same relay and signal plumbing `cordon run -t`
//! uses, without a sandbox of its own.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::{PollFd, PollFlags};

use crate::init::FORWARDED_SIGNALS;
use crate::relay::Relay;
use crate::sys::{self, SignalSet};
use crate::tty;

/// Relays `pty_master` (if any; with `forward_stdin` the caller's terminal goes raw) and
/// hands every forwarded signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2; SIGWINCH
/// resizes the pty instead) to `on_signal`, until `done` is readable. The caller's
/// terminal mode and signal mask are restored before returning.
pub fn attach(
    pty_master: Option<OwnedFd>,
    forward_stdin: bool,
    done: BorrowedFd<'_>,
    mut on_signal: impl FnMut(i32),
) -> io::Result<()> {
    let forwarded = SignalSet::of(&FORWARDED_SIGNALS);
    let old_mask = forwarded.block()?;
    let result = (|| {
        let signals = forwarded.signalfd()?;
        let mut relay = pty_master.map(|master| {
            tty::copy_size(&master);
            Relay::new(master, forward_stdin)
        });
        loop {
            let mut fds = vec![
                PollFd::new(&done, PollFlags::IN),
                PollFd::new(&signals, PollFlags::IN),
            ];
            if let Some(relay) = &relay {
                relay.poll_fds(&mut fds);
            }
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
            drop(fds);
            if !ready[1].is_empty() {
                while let Ok(Some(sig)) = sys::read_signalfd(signals.as_fd()) {
                    match (sig, &relay) {
                        (libc::SIGWINCH, Some(relay)) => relay.resize(),
                        (libc::SIGWINCH, None) => {}
                        _ => on_signal(sig),
                    }
                }
            }
            if let Some(relay) = &mut relay {
                relay.pump(&ready[2..]);
            }
            if !ready[0].is_empty() {
                break;
            }
        }
        if let Some(relay) = &mut relay {
            relay.drain();
        }
        Ok(())
    })();
    let _ = old_mask.set_as_mask();
    result
}
