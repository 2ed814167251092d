//! The sandbox's network namespace: loopback only, plus (optionally) the listener the
//! supervisor's egress proxy will serve, created *inside* the namespace so the agent reaches
//! it at a loopback address while the supervisor accepts on it from outside.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;

use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// Pending connections the proxy listener queues before `accept` (beyond it, the kernel
/// drops SYNs and clients retry): generous for bursts of parallel package downloads.
pub(crate) const PROXY_BACKLOG: i32 = 1024;

/// Brings up `lo` (a new network namespace starts with it down).
pub(crate) fn bring_up_loopback() -> io::Result<()> {
    crate::sys::set_loopback_up()
}

/// A non-blocking, close-on-exec TCP listener bound to `addr` in the current namespace.
pub(crate) fn listen(addr: SocketAddrV4) -> io::Result<OwnedFd> {
    let sock = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::sockopt::set_socket_reuseaddr(&sock, true)?;
    rustix::net::bind(&sock, &addr)?;
    rustix::net::listen(&sock, PROXY_BACKLOG)?;
    Ok(sock)
}

/// A close-on-exec `NETLINK_SOCK_DIAG` socket bound to the current network namespace,
/// for the supervisor's socket-owner lookups (it answers for this namespace only).
pub(crate) fn sock_diag() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(rustix::net::netlink::SOCK_DIAG),
    )?)
}
