//! The exec socket: `SOCK_SEQPACKET` (message boundaries kept, descriptors attached to
//! the message they belong to), one JSON frame per packet.
//!
//! A session: the CLI sends [`Frame::Exec`] with its stdin, stdout and stderr attached
//! (none with `tty`); the supervisor answers [`Frame::Started`] (with the pty master
//! attached when `tty`) or [`Frame::Failed`]; the CLI may send [`Frame::Signal`]s; the
//! supervisor ends with [`Frame::Exited`]. Blocking calls: both ends use a thread each.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};

use crate::error::ControlError;

/// Largest frame (the command line dominates).
pub const MAX_FRAME: usize = 64 * 1024;

/// Most descriptors one frame carries (stdin, stdout, stderr).
const MAX_FDS: usize = 3;

/// Pending connections queued before `accept`.
const BACKLOG: i32 = 64;

/// One message of an exec session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// Start `argv` in the sandbox; without `tty`, stdin/stdout/stderr are attached.
    Exec { argv: Vec<String>, tty: bool },
    /// Pass this signal on to the process.
    Signal { signal: i32 },
    /// The process runs (with `tty`, the pty master is attached).
    Started,
    /// It could not be started. `kind`: `not_found`, `not_executable` or `cordon`.
    Failed { kind: String, message: String },
    /// It ended; `code` follows the shell convention (128+N for signal N).
    Exited { code: u8 },
}

/// One end of an exec session.
#[derive(Debug)]
pub struct ExecConn {
    fd: OwnedFd,
}

/// The supervisor's exec socket.
#[derive(Debug)]
pub struct ExecListener {
    fd: OwnedFd,
}

fn seqpacket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

impl ExecListener {
    /// Binds `path` (replacing a stale socket) with mode 0600.
    pub fn bind(path: &Path) -> Result<ExecListener, ControlError> {
        let fail = |source: io::Error| ControlError::Bind {
            path: path.to_owned(),
            source,
        };
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(e)),
        }
        let fd = seqpacket().map_err(fail)?;
        let addr = SocketAddrUnix::new(path).map_err(|e| fail(e.into()))?;
        rustix::net::bind(&fd, &addr).map_err(|e| fail(e.into()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        rustix::net::listen(&fd, BACKLOG).map_err(|e| fail(e.into()))?;
        Ok(ExecListener { fd })
    }

    /// Waits for the next connection from a process running as `uid`; others are closed.
    pub fn accept(&self, uid: u32) -> io::Result<ExecConn> {
        loop {
            let fd = match rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let peer = rustix::net::sockopt::socket_peercred(&fd)?;
            if peer.uid.as_raw() == uid {
                return Ok(ExecConn { fd });
            }
        }
    }
}

impl ExecConn {
    /// Connects to the exec socket at `path`.
    pub fn connect(path: &Path) -> Result<ExecConn, ControlError> {
        let fail = |source: io::Error| ControlError::Connect {
            path: path.to_owned(),
            source,
        };
        let fd = seqpacket().map_err(fail)?;
        let addr = SocketAddrUnix::new(path).map_err(|e| fail(e.into()))?;
        rustix::net::connect(&fd, &addr).map_err(|e| fail(e.into()))?;
        Ok(ExecConn { fd })
    }

    /// A second handle on the same connection (one thread reads, another writes).
    pub fn try_clone(&self) -> io::Result<ExecConn> {
        Ok(ExecConn {
            fd: self.fd.try_clone()?,
        })
    }

    /// The socket, for polling (readable = a frame or end-of-file is waiting).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Sends `frame` with `fds` attached.
    pub fn send(&self, frame: &Frame, fds: &[BorrowedFd<'_>]) -> Result<(), ControlError> {
        let bytes =
            serde_json::to_vec(frame).map_err(|e| ControlError::Malformed(e.to_string()))?;
        if bytes.len() > MAX_FRAME {
            return Err(ControlError::Malformed(
                "the command line is too long".into(),
            ));
        }
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty()
            && (fds.len() > MAX_FDS || !control.push(SendAncillaryMessage::ScmRights(fds)))
        {
            return Err(ControlError::Malformed("too many descriptors".into()));
        }
        rustix::net::sendmsg(
            &self.fd,
            &[io::IoSlice::new(&bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        )
        .map_err(|e| ControlError::Io(e.into()))?;
        Ok(())
    }

    /// Receives one frame and its descriptors; `None` at end-of-file.
    pub fn recv(&self) -> Result<Option<(Frame, Vec<OwnedFd>)>, ControlError> {
        let mut buf = vec![0u8; MAX_FRAME];
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
                Err(e) => return Err(ControlError::Io(e.into())),
            }
        };
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if received.bytes == 0 {
            return Ok(None);
        }
        let frame = serde_json::from_slice(&buf[..received.bytes])
            .map_err(|e| ControlError::Malformed(e.to_string()))?;
        Ok(Some((frame, fds)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_and_descriptors_cross_and_end_of_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exec.sock");
        let listener = ExecListener::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let uid = rustix::process::getuid().as_raw();
        let client = ExecConn::connect(&path).unwrap();
        let server = listener.accept(uid).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        client
            .send(
                &Frame::Exec {
                    argv: vec!["true".into()],
                    tty: false,
                },
                &[null.as_fd()],
            )
            .unwrap();
        let (frame, fds) = server.recv().unwrap().unwrap();
        assert_eq!(
            frame,
            Frame::Exec {
                argv: vec!["true".into()],
                tty: false
            }
        );
        assert_eq!(fds.len(), 1);
        server.send(&Frame::Exited { code: 3 }, &[]).unwrap();
        assert_eq!(client.recv().unwrap().unwrap().0, Frame::Exited { code: 3 });
        drop(server);
        assert!(client.recv().unwrap().is_none());
    }
}
