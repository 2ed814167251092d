//! Which process is on the other end of a client connection.
//!
//! TCP has no peer credentials, so the proxy asks procfs: the client's socket shows up
//! in the sandbox's view of `/proc/<pid>/net/tcp{,6}` with the client's address as
//! local and the proxy's as remote; that line carries the socket inode; the process
//! holding `socket:[inode]` among its `/proc/<pid>/fd` is the caller; its
//! `/proc/<pid>/exe` is the binary. `readlink` on `exe` of a process in another mount
//! namespace yields the path inside that namespace (verified: a binary bind-mounted at
//! `/opt/x` inside bwrap reads back as `/opt/x` from the host), which is what policy
//! `binaries` globs are written against.
//!
//! Only processes of the sandbox are searched (same pid or network namespace as its
//! init), so a host process can never lend its identity to sandbox traffic. When
//! several processes share the socket (fork, fd passing) and their binaries differ, the
//! caller is ambiguous and treated as unknown: policies with `binaries` then deny.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::sockdiag::SockDiag;

/// Which processes count as "the sandbox" when looking for a socket's owner.
#[derive(Debug, Clone)]
pub enum PeerScope {
    /// The sandbox whose init process has this pid (as seen by the supervisor):
    /// sockets are looked up in its network namespace, and processes in its pid or
    /// network namespace are searched.
    Sandbox {
        /// Pid of the sandbox's init process in the supervisor's pid namespace.
        init_pid: u32,
        /// A `NETLINK_SOCK_DIAG` socket created inside the sandbox's network
        /// namespace ([`SockDiag::create`] run there, then [`SockDiag::from_fd`]). When
        /// `None` the proxy makes one itself by entering the namespace (root mode
        /// only), and otherwise falls back to reading `/proc/<init_pid>/net/tcp`,
        /// which costs milliseconds per connection.
        sock_diag: Option<SockDiag>,
    },
    /// Every process of the supervisor's own namespaces (standalone proxy, tests).
    Host,
}

/// The process found on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its pid in the supervisor's pid namespace.
    pub pid: u32,
    /// Its executable as seen inside the sandbox.
    pub exe: String,
}

/// Why no single owner was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerError {
    /// The connection is not in the sandbox's TCP table (closed already, or not from
    /// the sandbox).
    NoSocket,
    /// No sandbox process holds the socket (it exited, or passed it out of reach).
    NoOwner,
    /// Processes running different binaries share the socket.
    Ambiguous(Vec<String>),
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::NoSocket => {
                f.write_str("client socket not found in the sandbox's TCP table")
            }
            PeerError::NoOwner => f.write_str("no sandbox process holds the client socket"),
            PeerError::Ambiguous(exes) => {
                write!(
                    f,
                    "client socket shared by different binaries: {}",
                    exes.join(", ")
                )
            }
        }
    }
}

/// How many recent owners are tried before scanning all of /proc: agents make many
/// connections from few processes.
const RECENT_OWNERS: usize = 8;

/// Looks up socket owners for one sandbox; remembers recent owners to skip full scans.
#[derive(Debug)]
pub struct PeerFinder {
    scope: PeerScope,
    /// Fast socket lookup in the sandbox's network namespace, when available.
    diag: Option<SockDiag>,
    /// (pid namespace link, network namespace link) of the sandbox init, read once.
    init_ns: Option<(OsString, OsString)>,
    recent: Mutex<VecDeque<u32>>,
}

impl PeerFinder {
    /// Prepares lookups for `scope`.
    pub fn new(scope: PeerScope) -> PeerFinder {
        let diag = match &scope {
            PeerScope::Host => SockDiag::open_here().ok(),
            PeerScope::Sandbox {
                init_pid,
                sock_diag,
            } => sock_diag
                .clone()
                .or_else(|| SockDiag::open_in(*init_pid).ok()),
        };
        let init_ns = match scope {
            PeerScope::Sandbox { init_pid, .. } => {
                let read = |ns: &str| std::fs::read_link(format!("/proc/{init_pid}/ns/{ns}")).ok();
                read("pid")
                    .zip(read("net"))
                    .map(|(pid, net)| (pid.into_os_string(), net.into_os_string()))
            }
            PeerScope::Host => None,
        };
        PeerFinder {
            scope,
            diag,
            init_ns,
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// The process that owns the client end of a connection: `client` is the peer
    /// address the proxy saw, `proxy` the proxy's local address. Blocking (procfs).
    pub fn find(&self, client: SocketAddr, proxy: SocketAddr) -> Result<Peer, PeerError> {
        let inode = self
            .socket_inode(client, proxy)
            .ok_or(PeerError::NoSocket)?;
        let needle = format!("socket:[{inode}]");
        let recent: Vec<u32> = self
            .recent
            .lock()
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        let mut owners: Vec<u32> = recent
            .into_iter()
            .filter(|pid| holds(*pid, &needle))
            .collect();
        if owners.is_empty() {
            owners = self
                .candidates()
                .into_iter()
                .filter(|pid| holds(*pid, &needle))
                .collect();
        }
        let mut peers: Vec<Peer> = owners
            .into_iter()
            .filter_map(|pid| exe_path(pid).map(|exe| Peer { pid, exe }))
            .collect();
        peers.sort_by(|a, b| a.exe.cmp(&b.exe).then(a.pid.cmp(&b.pid)));
        let first = peers.first().cloned().ok_or(PeerError::NoOwner)?;
        let mut exes: Vec<String> = peers.into_iter().map(|p| p.exe).collect();
        exes.dedup();
        if exes.len() > 1 {
            return Err(PeerError::Ambiguous(exes));
        }
        if let Ok(mut recent) = self.recent.lock() {
            recent.retain(|pid| *pid != first.pid);
            recent.push_front(first.pid);
            recent.truncate(RECENT_OWNERS);
        }
        Ok(first)
    }

    fn tcp_table_dir(&self) -> String {
        match self.scope {
            PeerScope::Sandbox { init_pid, .. } => format!("/proc/{init_pid}/net"),
            PeerScope::Host => "/proc/self/net".to_owned(),
        }
    }

    fn socket_inode(&self, client: SocketAddr, proxy: SocketAddr) -> Option<u64> {
        if let Some(diag) = &self.diag
            && let Ok(found) = diag.inode(client, proxy)
        {
            return found;
        }
        self.procfs_inode(client, proxy)
    }

    /// The slow path: the whole TCP table of the sandbox's namespace, as text.
    fn procfs_inode(&self, client: SocketAddr, proxy: SocketAddr) -> Option<u64> {
        let dir = self.tcp_table_dir();
        let (first, second) = if client.is_ipv4() {
            ("tcp", "tcp6")
        } else {
            ("tcp6", "tcp")
        };
        [first, second].into_iter().find_map(|table| {
            let text = std::fs::read(format!("{dir}/{table}")).ok()?;
            find_inode(&text, client, proxy)
        })
    }

    /// Pids of the sandbox's processes (or every process, in host scope).
    fn candidates(&self) -> Vec<u32> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| match &self.init_ns {
                None => matches!(self.scope, PeerScope::Host),
                Some((pid_ns, net_ns)) => {
                    let link = |ns: &str| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).ok();
                    link("pid").is_some_and(|l| l.as_os_str() == pid_ns)
                        || link("net").is_some_and(|l| l.as_os_str() == net_ns)
                }
            })
            .collect()
    }
}

/// Whether `pid` has an fd whose link text is `needle` (`socket:[N]`).
fn holds(pid: u32, needle: &str) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str().as_bytes() == needle.as_bytes())
    })
}

/// `readlink /proc/<pid>/exe`, without the " (deleted)" the kernel appends once the
/// file was unlinked or replaced: the running image is still the one executed from
/// that path, and trust-on-first-use checks its contents separately.
fn exe_path(pid: u32) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let mut bytes = link.into_os_string().into_vec();
    const DELETED: &[u8] = b" (deleted)";
    if bytes.ends_with(DELETED) && !PathBuf::from(OsString::from_vec(bytes.clone())).exists() {
        bytes.truncate(bytes.len() - DELETED.len());
    }
    String::from_utf8(bytes).ok()
}

/// Finds the inode of the ESTABLISHED socket with local `client` and remote `proxy` in
/// a `/proc/net/tcp{,6}` table.
fn find_inode(table: &[u8], client: SocketAddr, proxy: SocketAddr) -> Option<u64> {
    table.split(|b| *b == b'\n').skip(1).find_map(|line| {
        let mut fields = line.split(|b| *b == b' ').filter(|f| !f.is_empty());
        let _slot = fields.next()?;
        let local = parse_addr(fields.next()?)?;
        let remote = parse_addr(fields.next()?)?;
        if fields.next()? != b"01" || !same(local, client) || !same(remote, proxy) {
            return None;
        }
        // tx:rx queue, tr:tm, retrnsmt, uid, timeout, inode
        let inode = fields.nth(5)?;
        std::str::from_utf8(inode)
            .ok()?
            .parse()
            .ok()
            .filter(|i| *i != 0)
    })
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && crate::ssrf::canonical(a.ip()) == crate::ssrf::canonical(b.ip())
}

/// Parses `0100007F:1F90` (IPv4) or a 32-hex-digit IPv6 address; each 32-bit word is
/// in host (little-endian) byte order.
fn parse_addr(field: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(field).ok()?;
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr, 16).ok()?.to_le_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tcp_lines() {
        let table = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:C350 0100007F:0C38 01 00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 20 4 30 10 -1\n";
        let client: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let proxy: SocketAddr = "127.0.0.1:3128".parse().unwrap();
        assert_eq!(find_inode(table, client, proxy), Some(424242));
        assert_eq!(find_inode(table, proxy, client), None);
        let v6 = parse_addr(b"00000000000000000000000001000000:0050").unwrap();
        assert_eq!(v6, "[::1]:80".parse().unwrap());
    }

    #[test]
    fn finds_own_connection_in_host_scope() {
        // A connection made by this test process: in host scope the owner is us.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let finder = PeerFinder::new(PeerScope::Host);
        let (local, remote) = (client.local_addr().unwrap(), listener.local_addr().unwrap());
        let fast = finder.socket_inode(local, remote);
        assert!(fast.is_some());
        assert_eq!(
            finder.procfs_inode(local, remote),
            fast,
            "both lookups agree"
        );
        let peer = finder
            .find(client.local_addr().unwrap(), listener.local_addr().unwrap())
            .unwrap();
        assert_eq!(peer.pid, std::process::id());
        let own_exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(peer.exe, own_exe.to_str().unwrap());
    }
}
