//! The channels between the supervisor and the processes it starts: `SOCK_SEQPACKET`
//! socketpairs carrying short typed messages (one per packet), some with descriptors.
//!
//! The report channel: the child end is close-on-exec, so when the agent's `execve`
//! succeeds the supervisor reads end-of-file. Every failure before that point arrives as a
//! message naming the step, and the exec itself cannot fail silently. Each process
//! started later by `Sandbox::exec` gets a report channel of its own, used the same way.
//!
//! The control channel (named sandboxes only) stays open between the supervisor and init
//! for the sandbox's whole life: exec requests and signals go in, exit statuses come out.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// Largest message; texts are cut to fit (a packet is atomic, so never torn). Large
/// enough for the command line of an exec request.
pub(crate) const MAX_PACKET: usize = 64 * 1024;

/// Most descriptors one message carries (an exec request: report channel + stdio).
const MAX_FDS: usize = 4;

/// What a failed step maps to, so the supervisor can pick the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Any setup step (exit 125).
    Setup = 0,
    /// The command was not found (exit 127).
    NotFound = 1,
    /// The command could not be executed (exit 126).
    NotExecutable = 2,
    /// Landlock hard_requirement could not be met (exit 125).
    Landlock = 3,
}

/// One packet.
#[derive(Debug)]
pub(crate) enum Message {
    /// Supervisor to child: the id maps are written and the cgroup is set, go on.
    Go,
    /// Something the user should know (a skipped path, a weaker layer).
    Warning(String),
    /// A line describing an applied layer, for `-v`.
    Layer(String),
    /// A step failed; `errno` is 0 when there is none. The sender exits after this.
    Failed {
        failure: Failure,
        errno: i32,
        text: String,
    },
    /// The proxy listener created inside the network namespace.
    Listener(OwnedFd),
    /// The master of the agent's pty, opened from the sandbox's own devpts instance.
    PtyMaster(OwnedFd),
    /// Transparent capture's sockets (DNS, then TCP v4, then TCP v6 if any), whether
    /// the redirect rules are active, and how they were set up or why not.
    Capture {
        active: bool,
        ipv6: bool,
        detail: String,
        fds: Vec<OwnedFd>,
    },
    /// A `NETLINK_SOCK_DIAG` socket created inside the network namespace: the egress
    /// layer finds a client socket's owner through it (a rootless supervisor cannot
    /// enter the namespace to make one itself).
    SockDiag(OwnedFd),
    /// Supervisor to init (control channel): start `argv` as a new process. `fds` are
    /// the new process's report channel, then (without `tty`) its stdin, stdout, stderr.
    Exec {
        id: u64,
        tty: bool,
        argv: Vec<Vec<u8>>,
        fds: Vec<OwnedFd>,
    },
    /// Supervisor to init: send `signal` to the process of exec request `id`.
    Signal { id: u64, signal: i32 },
    /// Init to supervisor: the process of exec request `id` ended.
    Exited { id: u64, status: crate::ExitStatus },
}

/// One end of the channel.
#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// Creates both ends, close-on-exec.
pub(crate) fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    fn send_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        let len = bytes.len().min(MAX_PACKET);
        rustix::net::send(&self.fd, &bytes[..len], SendFlags::NOSIGNAL)?;
        Ok(())
    }

    pub(crate) fn send(&self, message: &Message) -> io::Result<()> {
        match message {
            Message::Go => self.send_bytes(b"G"),
            Message::Warning(text) => self.send_bytes(&[b"W", text.as_bytes()].concat()),
            Message::Layer(text) => self.send_bytes(&[b"L", text.as_bytes()].concat()),
            Message::Failed {
                failure,
                errno,
                text,
            } => {
                let mut bytes = vec![b'E', *failure as u8];
                bytes.extend_from_slice(&errno.to_le_bytes());
                bytes.extend_from_slice(text.as_bytes());
                self.send_bytes(&bytes)
            }
            Message::Listener(fd) => self.send_fds(b"F", &[fd]),
            Message::PtyMaster(fd) => self.send_fds(b"P", &[fd]),
            Message::SockDiag(fd) => self.send_fds(b"D", &[fd]),
            Message::Capture {
                active,
                ipv6,
                detail,
                fds,
            } => {
                let flags = u8::from(*active) | u8::from(*ipv6) << 1;
                let bytes = [&[b'C', flags], detail.as_bytes()].concat();
                let fds: Vec<&OwnedFd> = fds.iter().collect();
                self.send_fds(&bytes, &fds)
            }
            Message::Exec { id, tty, argv, fds } => {
                let mut bytes = vec![b'X'];
                bytes.extend_from_slice(&id.to_le_bytes());
                bytes.push(u8::from(*tty));
                for arg in argv {
                    bytes.extend_from_slice(arg);
                    bytes.push(0);
                }
                if bytes.len() > MAX_PACKET {
                    return Err(io::Error::other("the command line is too long"));
                }
                let fds: Vec<&OwnedFd> = fds.iter().collect();
                self.send_fds(&bytes, &fds)
            }
            Message::Signal { id, signal } => {
                let mut bytes = vec![b'S'];
                bytes.extend_from_slice(&id.to_le_bytes());
                bytes.extend_from_slice(&signal.to_le_bytes());
                self.send_bytes(&bytes)
            }
            Message::Exited { id, status } => {
                let (kind, value) = match *status {
                    crate::ExitStatus::Exited(code) => (0u8, i32::from(code)),
                    crate::ExitStatus::Signaled(sig) => (1u8, sig),
                };
                let mut bytes = vec![b'Z'];
                bytes.extend_from_slice(&id.to_le_bytes());
                bytes.push(kind);
                bytes.extend_from_slice(&value.to_le_bytes());
                self.send_bytes(&bytes)
            }
        }
    }

    fn send_fds(&self, bytes: &[u8], fds: &[&OwnedFd]) -> io::Result<()> {
        let fds: Vec<_> = fds.iter().map(|fd| fd.as_fd()).collect();
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if fds.len() > MAX_FDS || !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(io::Error::other("too many descriptors for one message"));
        }
        rustix::net::sendmsg(
            &self.fd,
            &[io::IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        Ok(())
    }

    /// The socket, for polling.
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Whether the other end has been closed (its process is gone), without blocking.
    pub(crate) fn peer_gone(&self) -> bool {
        let mut fds = [rustix::event::PollFd::new(
            &self.fd,
            rustix::event::PollFlags::empty(),
        )];
        matches!(rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())), Ok(n) if n > 0)
            && fds[0].revents().contains(rustix::event::PollFlags::HUP)
    }

    /// The socket itself (to send it to another process).
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Wraps one end received in an exec request.
    pub(crate) fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    /// Sends, ignoring failure: used on paths that are already failing, where the
    /// supervisor's end-of-file (or the process's exit code) still reports something.
    pub(crate) fn send_or_ignore(&self, message: &Message) {
        let _ = self.send(message);
    }

    /// Receives one message; `None` at end-of-file (every sender closed or exec'd).
    pub(crate) fn recv(&self) -> io::Result<Option<Message>> {
        let mut buf = vec![0u8; MAX_PACKET];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = loop {
            match rustix::net::recvmsg(
                &self.fd,
                &mut [io::IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(received) => break received,
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
        };
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        let bytes = &buf[..received.bytes];
        decode(bytes, fds)
    }
}

fn u64_at(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

fn i32_at(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

fn decode(bytes: &[u8], mut fds: Vec<OwnedFd>) -> io::Result<Option<Message>> {
    let malformed = || io::Error::other("malformed message on the sandbox channel");
    let Some((&tag, rest)) = bytes.split_first() else {
        return Ok(None);
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let message = match tag {
        b'G' => Message::Go,
        b'W' => Message::Warning(text(rest)),
        b'L' => Message::Layer(text(rest)),
        b'E' if rest.len() >= 5 => {
            let failure = match rest[0] {
                1 => Failure::NotFound,
                2 => Failure::NotExecutable,
                3 => Failure::Landlock,
                _ => Failure::Setup,
            };
            let mut errno = [0u8; 4];
            errno.copy_from_slice(&rest[1..5]);
            Message::Failed {
                failure,
                errno: i32::from_le_bytes(errno),
                text: text(&rest[5..]),
            }
        }
        b'F' | b'P' | b'D' => match fds.pop() {
            Some(fd) if tag == b'F' => Message::Listener(fd),
            Some(fd) if tag == b'D' => Message::SockDiag(fd),
            Some(fd) => Message::PtyMaster(fd),
            None => return Err(io::Error::other("descriptor message without a descriptor")),
        },
        b'C' => Message::Capture {
            active: *rest.first().ok_or_else(malformed)? & 1 == 1,
            ipv6: *rest.first().ok_or_else(malformed)? & 2 == 2,
            detail: text(rest.get(1..).unwrap_or_default()),
            fds,
        },
        b'X' => {
            let id = u64_at(rest).ok_or_else(malformed)?;
            let tty = *rest.get(8).ok_or_else(malformed)? == 1;
            let args = rest.get(9..).ok_or_else(malformed)?;
            let argv = args
                .split(|b| *b == 0)
                .take(args.iter().filter(|b| **b == 0).count())
                .map(<[u8]>::to_vec)
                .collect();
            Message::Exec { id, tty, argv, fds }
        }
        b'S' => Message::Signal {
            id: u64_at(rest).ok_or_else(malformed)?,
            signal: i32_at(rest.get(8..).unwrap_or_default()).ok_or_else(malformed)?,
        },
        b'Z' => {
            let id = u64_at(rest).ok_or_else(malformed)?;
            let kind = *rest.get(8).ok_or_else(malformed)?;
            let value = i32_at(rest.get(9..).unwrap_or_default()).ok_or_else(malformed)?;
            let status = if kind == 0 {
                crate::ExitStatus::Exited(value as u8)
            } else {
                crate::ExitStatus::Signaled(value)
            };
            Message::Exited { id, status }
        }
        _ => return Err(malformed()),
    };
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_ends_the_stream() {
        let (a, b) = pair().unwrap();
        let sent = [
            Message::Go,
            Message::Warning("skipped /nope".into()),
            Message::Layer("seccomp: on".into()),
            Message::Failed {
                failure: Failure::NotFound,
                errno: 2,
                text: "exec foo".into(),
            },
        ];
        for message in &sent {
            a.send(message).unwrap();
        }
        drop(a);
        for message in sent {
            let got = b.recv().unwrap().unwrap();
            assert_eq!(format!("{got:?}"), format!("{message:?}"));
        }
        assert!(b.recv().unwrap().is_none());
    }

    #[test]
    fn exec_requests_carry_argv_and_descriptors() {
        let (a, b) = pair().unwrap();
        let (r, _w) = pair().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        a.send(&Message::Exec {
            id: 7,
            tty: false,
            argv: vec![b"/bin/echo".to_vec(), b"".to_vec(), b"x y".to_vec()],
            fds: vec![r.fd, OwnedFd::from(null)],
        })
        .unwrap();
        a.send(&Message::Signal { id: 7, signal: 15 }).unwrap();
        a.send(&Message::Exited {
            id: 7,
            status: crate::ExitStatus::Signaled(9),
        })
        .unwrap();
        match b.recv().unwrap() {
            Some(Message::Exec { id, tty, argv, fds }) => {
                assert_eq!((id, tty, fds.len()), (7, false, 2));
                assert_eq!(
                    argv,
                    vec![b"/bin/echo".to_vec(), Vec::new(), b"x y".to_vec()]
                );
            }
            other => panic!("expected an exec request, got {other:?}"),
        }
        assert!(matches!(
            b.recv().unwrap(),
            Some(Message::Signal { id: 7, signal: 15 })
        ));
        assert!(matches!(
            b.recv().unwrap(),
            Some(Message::Exited {
                id: 7,
                status: crate::ExitStatus::Signaled(9)
            })
        ));
    }

    #[test]
    fn a_descriptor_crosses_the_channel() {
        let (a, b) = pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        a.send(&Message::Listener(OwnedFd::from(listener))).unwrap();
        match b.recv().unwrap() {
            Some(Message::Listener(fd)) => {
                let got = std::net::TcpListener::from(fd);
                assert_eq!(got.local_addr().unwrap().port(), port);
            }
            other => panic!("expected a listener, got {other:?}"),
        }
    }
}
