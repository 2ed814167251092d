//! Transparent capture: programs that ignore the proxy variables are still governed.
//!
//! When [`crate::SandboxSpec::transparent`] is set, init (still holding CAP_NET_ADMIN
//! and CAP_NET_BIND_SERVICE inside its own user namespace, before the agent exists
//! and before `pivot_root`, so host binaries are reachable) sets up, in the sandbox's
//! network namespace:
//!
//! 1. the sockets the supervisor will serve: a TCP listener on `127.0.0.1:<tcp_port>`
//!    (and `[::1]:<tcp_port>` when the namespace has IPv6) and a UDP socket on
//!    `127.0.0.1:<dns_port>`, handed out like the proxy listener (SCM_RIGHTS);
//! 2. the redirect rules (`nftables`, else the `rules` tools): outbound TCP to the listener, UDP port 53 to the
//!    DNS socket, everything else leaving loopback refused;
//! 3. default routes over `lo` (`route`), so `connect()` to an outside address has a
//!    route and reaches the rules instead of failing with `ENETUNREACH`.
//!
//! Sockets first (a redirected connection never finds nobody listening), routes last
//! (without the rules a route is never there). A missing rule tool or a kernel without
//! nf_tables leaves capture inactive, with a warning: outside addresses then stay
//! unreachable, exactly as without capture (fail closed). The supervisor's egress layer
//! reads each redirected connection's original destination with `SO_ORIGINAL_DST`.

mod nftables;
mod route;
mod rules;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;

use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::netns::PROXY_BACKLOG;

/// Where captured traffic is delivered inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSpec {
    /// Port of the transparent TCP listener on the sandbox's loopback.
    pub tcp_port: u16,
    /// Port of the DNS stub on `127.0.0.1` (53: the only port `resolv.conf` can name).
    pub dns_port: u16,
}

impl CaptureSpec {
    /// The ports cordon uses: 3129 next to the proxy's 3128, and DNS's own 53.
    pub const DEFAULT: CaptureSpec = CaptureSpec {
        tcp_port: 3129,
        dns_port: 53,
    };
}

/// What the sandbox hands the supervisor for transparent capture.
#[derive(Debug)]
pub struct CaptureSockets {
    /// Redirected TCP connections arrive here: `127.0.0.1:<tcp_port>`, then
    /// `[::1]:<tcp_port>` when the namespace has IPv6. Non-blocking.
    pub tcp: Vec<TcpListener>,
    /// The DNS stub's socket, `127.0.0.1:<dns_port>`; UDP to port 53 of any address
    /// arrives here (replies go out from the address the client asked). Non-blocking.
    pub dns: UdpSocket,
    /// Whether the redirect rules and routes are in place. When `false` the sockets
    /// only receive what is addressed to them, and outside addresses are unreachable.
    pub active: bool,
    /// IPv6 is captured too (rules, route and `[::1]` listener); otherwise IPv6
    /// destinations are unreachable and the DNS stub should not answer AAAA.
    pub ipv6: bool,
    /// How capture was set up, or why it is inactive (for `-v` and status lines).
    pub detail: String,
}

/// Init's result: the sockets (DNS first, then TCP v4, then TCP v6) and the status.
#[derive(Debug)]
pub(crate) struct Installed {
    pub fds: Vec<OwnedFd>,
    pub active: bool,
    pub ipv6: bool,
    pub detail: String,
}

impl CaptureSockets {
    /// Rebuilds the supervisor's view from the descriptors init sent, in
    /// [`Installed::fds`] order.
    pub(crate) fn from_fds(
        mut fds: Vec<OwnedFd>,
        active: bool,
        ipv6: bool,
        detail: String,
    ) -> Option<CaptureSockets> {
        if fds.is_empty() {
            return None;
        }
        let dns = UdpSocket::from(fds.remove(0));
        let tcp = fds.into_iter().map(TcpListener::from).collect::<Vec<_>>();
        if tcp.is_empty() {
            return None;
        }
        Some(CaptureSockets {
            tcp,
            dns,
            active,
            ipv6: active && ipv6,
            detail,
        })
    }
}

/// Sets up capture in the current network namespace (init, before the agent). An
/// error means a socket could not be made (the start fails); rules that cannot be
/// installed only leave capture inactive.
pub(crate) fn install(spec: CaptureSpec) -> Result<Installed, String> {
    let dns = udp_socket(SocketAddrV4::new(Ipv4Addr::LOCALHOST, spec.dns_port))
        .map_err(|e| format!("bind the DNS stub on 127.0.0.1:{}: {e}", spec.dns_port))?;
    let tcp4 = crate::netns::listen(SocketAddrV4::new(Ipv4Addr::LOCALHOST, spec.tcp_port))
        .map_err(|e| format!("listen on 127.0.0.1:{}: {e}", spec.tcp_port))?;
    let mut fds = vec![dns, tcp4];
    // A namespace without IPv6 (disabled on the host) has no ::1: IPv4 only then.
    let tcp6 = listen_v6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, spec.tcp_port, 0, 0)).ok();
    let has_v6 = tcp6.is_some();
    fds.extend(tcp6);

    // nf_tables over netlink first (no process to start); the rule tools when the
    // kernel refuses it.
    let (installer, installed) = match nftables::install(spec) {
        Ok(()) => ("nf_tables", Ok(true)),
        Err(native) => {
            let Some(tool) = rules::Tool::find() else {
                return Ok(Installed {
                    fds,
                    active: false,
                    ipv6: false,
                    detail: format!(
                        "nf_tables refused the rules ({native}) and neither nft nor \
                         iptables-restore is installed on the host"
                    ),
                });
            };
            let installed = tool.install(spec);
            rules::reuse_helper_pids();
            (tool.name(), installed)
        }
    };
    let rules_v6 = match installed {
        Ok(v6) => v6,
        Err(why) => {
            return Ok(Installed {
                fds,
                active: false,
                ipv6: false,
                detail: format!("installing the {installer} rules failed: {why}"),
            });
        }
    };
    if let Err(e) = route::add_default_via_loopback(route::Family::V4) {
        return Ok(Installed {
            fds,
            active: false,
            ipv6: false,
            detail: format!("adding the IPv4 route for capture failed: {e}"),
        });
    }
    // IPv6 is captured only when the listener, the rules and the route all exist;
    // otherwise IPv6 destinations stay unreachable (fail closed), IPv4 is captured.
    let v6 = has_v6 && rules_v6 && route::add_default_via_loopback(route::Family::V6).is_ok();
    Ok(Installed {
        fds,
        active: true,
        ipv6: v6,
        detail: format!(
            "{} rules: TCP -> 127.0.0.1:{tcp}{v6}, DNS (UDP 53) -> 127.0.0.1:{dns}, \
             other UDP rejected, ICMP dropped",
            installer,
            tcp = spec.tcp_port,
            v6 = if v6 {
                format!(" and [::1]:{}", spec.tcp_port)
            } else {
                " (IPv6 not captured: unreachable)".into()
            },
            dns = spec.dns_port,
        ),
    })
}

/// A non-blocking, close-on-exec UDP socket bound to `addr`.
fn udp_socket(addr: SocketAddrV4) -> io::Result<OwnedFd> {
    let sock = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::bind(&sock, &addr)?;
    Ok(sock)
}

/// A non-blocking, close-on-exec IPv6-only TCP listener bound to `addr`.
fn listen_v6(addr: SocketAddrV6) -> io::Result<OwnedFd> {
    let sock = rustix::net::socket_with(
        AddressFamily::INET6,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::sockopt::set_ipv6_v6only(&sock, true)?;
    rustix::net::sockopt::set_socket_reuseaddr(&sock, true)?;
    rustix::net::bind(&sock, &addr)?;
    rustix::net::listen(&sock, PROXY_BACKLOG)?;
    Ok(sock)
}
