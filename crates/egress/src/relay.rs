//! Moving a tunnel's bytes. By default with `splice(2)`: socket → pipe → socket inside
//! the kernel, no copy through user space; a pipe pair is created only once bytes
//! flow, so an idle tunnel costs two sockets and a task. `RelayMode::Copy` is the
//! portable fallback with a large buffer per direction (kept for measurement:
//! bench/egress.sh compares both).
//!
//! Each direction ends on EOF by half-closing the other socket (`shutdown(WR)`), so
//! protocols that half-close (HTTP/1.0 uploads, `git` over ssh-like streams) work.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::limits::{RELAY_CHUNK_BYTES, RELAY_COPY_BUFFER_BYTES};

/// How tunnel bytes are moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RelayMode {
    /// `splice(2)` through a pipe: zero-copy (default).
    #[default]
    Splice,
    /// `read`/`write` with a large buffer.
    Copy,
}

/// Byte counters and last activity of one tunnel, read by its watchdog and audit line.
#[derive(Debug)]
pub(crate) struct Traffic {
    started: Instant,
    pub up: AtomicU64,
    pub down: AtomicU64,
    /// Milliseconds after `started` when a byte last moved.
    last_ms: AtomicU64,
}

impl Traffic {
    pub(crate) fn new() -> Traffic {
        Traffic {
            started: Instant::now(),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Milliseconds since a byte last moved.
    pub(crate) fn idle_ms(&self) -> u64 {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(self.last_ms.load(Ordering::Relaxed))
    }

    /// Milliseconds since the tunnel started.
    pub(crate) fn age_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Relays until both directions reached EOF or one failed. `prefix` holds bytes the
/// client sent after its CONNECT head before the tunnel existed (e.g. an eager TLS
/// ClientHello); they go upstream first.
pub(crate) async fn relay(
    client: &TcpStream,
    prefix: &[u8],
    upstream: &TcpStream,
    mode: RelayMode,
    traffic: &Traffic,
) -> io::Result<()> {
    if !prefix.is_empty() {
        write_all(upstream, prefix).await?;
        traffic.up.fetch_add(prefix.len() as u64, Ordering::Relaxed);
        traffic.touch();
    }
    match mode {
        RelayMode::Splice => {
            tokio::try_join!(
                splice_one_way(client, upstream, &traffic.up, traffic),
                splice_one_way(upstream, client, &traffic.down, traffic),
            )?;
        }
        RelayMode::Copy => {
            tokio::try_join!(
                copy_one_way(client, upstream, &traffic.up, traffic),
                copy_one_way(upstream, client, &traffic.down, traffic),
            )?;
        }
    }
    Ok(())
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

fn new_pipe() -> io::Result<Pipe> {
    let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    // A bigger pipe moves more per syscall; the kernel may grant less (pipe-max-size).
    let capacity = rustix::pipe::fcntl_setpipe_size(&write, RELAY_CHUNK_BYTES)
        .or_else(|_| rustix::pipe::fcntl_getpipe_size(&write))
        .unwrap_or(64 * 1024);
    Ok(Pipe {
        read,
        write,
        capacity,
    })
}

async fn splice_one_way(
    src: &TcpStream,
    dst: &TcpStream,
    counter: &AtomicU64,
    traffic: &Traffic,
) -> io::Result<()> {
    let mut pipe: Option<Pipe> = None;
    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
    // Fill the pipe from `src`, then drain it into `dst` completely before reading
    // again. The sockets' own buffers keep both peers streaming meanwhile, so
    // overlapping the two inside the proxy gains nothing. Never splice into a pipe
    // that still holds bytes: its room is counted in page slots, not bytes, and
    // topping it up moves a few bytes per slot (a storm of tiny splices and tiny
    // segments for the receiver).
    loop {
        // Readiness stays set after a successful splice, so a busy stream loops
        // without waiting on epoll; only EAGAIN (no data) clears it.
        src.readable().await?;
        let pipe = match &mut pipe {
            Some(pipe) => pipe,
            None => pipe.insert(new_pipe()?),
        };
        // The pipe is empty here: EAGAIN can only mean "no data".
        let moved = src.try_io(Interest::READABLE, || {
            rustix::pipe::splice(src, None, &pipe.write, None, pipe.capacity, flags)
                .map_err(io::Error::from)
        });
        let mut queued = match moved {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        };
        while queued > 0 {
            dst.writable().await?;
            let out = dst.try_io(Interest::WRITABLE, || {
                rustix::pipe::splice(&pipe.read, None, dst, None, queued, flags)
                    .map_err(io::Error::from)
            });
            match out {
                // Only an empty pipe without writers returns 0; we hold the writer.
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => {
                    queued -= m;
                    counter.fetch_add(m as u64, Ordering::Relaxed);
                    traffic.touch();
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
    }
    half_close(dst);
    Ok(())
}

async fn copy_one_way(
    src: &TcpStream,
    dst: &TcpStream,
    counter: &AtomicU64,
    traffic: &Traffic,
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        src.readable().await?;
        if buf.is_empty() {
            buf = vec![0; RELAY_COPY_BUFFER_BYTES];
        }
        let n = match src.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        };
        write_all(dst, &buf[..n]).await?;
        counter.fetch_add(n as u64, Ordering::Relaxed);
        traffic.touch();
    }
    half_close(dst);
    Ok(())
}

async fn write_all(dst: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        dst.writable().await?;
        match dst.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Forwards an EOF: no more bytes will be written to `dst`.
fn half_close(dst: &TcpStream) {
    // ENOTCONN when the peer is already gone: nothing left to tell it.
    let _ = rustix::net::shutdown(dst, rustix::net::Shutdown::Write);
}

/// Closes both directions of a socket now (tunnel revoked, timed out, shutdown).
pub(crate) fn close_both(stream: &TcpStream) {
    let _ = rustix::net::shutdown(stream, rustix::net::Shutdown::Both);
}
