//! The one channel between the supervisor and the processes it starts: a `SOCK_SEQPACKET`
//! socketpair carrying short typed messages (one per packet) and, once, a listener fd.
//!
//! Why one socket for everything: the child end is close-on-exec, so when the agent's
//! `execve` succeeds the supervisor reads end-of-file. Every failure before that point
//! arrives as a message naming the step, and the exec itself cannot fail silently.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// Largest message; texts are cut to fit (a packet is atomic, so never torn).
const MAX_PACKET: usize = 4096;

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
            Message::Listener(fd) => self.send_fd(b"F", fd),
            Message::PtyMaster(fd) => self.send_fd(b"P", fd),
        }
    }

    fn send_fd(&self, tag: &[u8], fd: &OwnedFd) -> io::Result<()> {
        {
            {
                let fds = [fd.as_fd()];
                let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
                let mut control = SendAncillaryBuffer::new(&mut space);
                if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
                    return Err(io::Error::other("control buffer too small for one fd"));
                }
                rustix::net::sendmsg(
                    &self.fd,
                    &[io::IoSlice::new(tag)],
                    &mut control,
                    SendFlags::NOSIGNAL,
                )?;
                Ok(())
            }
        }
    }

    /// Sends, ignoring failure: used on paths that are already failing, where the
    /// supervisor's end-of-file (or the process's exit code) still reports something.
    pub(crate) fn send_or_ignore(&self, message: &Message) {
        let _ = self.send(message);
    }

    /// Receives one message; `None` at end-of-file (every sender closed or exec'd).
    pub(crate) fn recv(&self) -> io::Result<Option<Message>> {
        let mut buf = vec![0u8; MAX_PACKET];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
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
        let mut fd = None;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = message {
                fd = fds.next();
            }
        }
        let bytes = &buf[..received.bytes];
        decode(bytes, fd)
    }
}

fn decode(bytes: &[u8], fd: Option<OwnedFd>) -> io::Result<Option<Message>> {
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
        b'F' | b'P' => match fd {
            Some(fd) if tag == b'F' => Message::Listener(fd),
            Some(fd) => Message::PtyMaster(fd),
            None => return Err(io::Error::other("descriptor message without a descriptor")),
        },
        _ => return Err(io::Error::other("malformed message on the sandbox channel")),
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
