//! Every bound the proxy enforces, with what happens when it is hit. docs/limits.md
//! lists the same table for operators; keep the two in step.
//!
//! The proxy serves a hostile client: anything the agent can make it allocate, hold
//! open or wait for is bounded here.

use std::time::Duration;

/// Largest request head (request line plus headers) a client may send, in bytes.
/// At the limit: the client gets `431 Request Header Fields Too Large` and the
/// connection is closed. 64 KiB is four times what common servers accept (nginx 8 KiB
/// per line, Node 16 KiB total), so no honest client hits it.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

/// Most headers in one request head. At the limit: `431` and close (hyper's own
/// check). Browsers send ~20; 128 leaves room for API clients with many `x-` headers.
pub const MAX_REQUEST_HEADERS: usize = 128;

/// How long a client may take to send a complete request head, counted from when the
/// proxy starts waiting for it — including the idle time between requests on a
/// keep-alive connection. At the limit: the connection is closed without a response
/// (a slow-loris client gets nothing). 60 s exceeds every client's keep-alive reuse
/// window (curl and Python keep idle connections for seconds, not minutes).
pub const CLIENT_HEAD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long dialling the destination may take, over all validated addresses. At the
/// limit: the client gets `504` with `{"error":"upstream_timeout"}` and an audit line.
/// 10 s covers a SYN retransmit or two on a lossy path.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a DNS lookup may take. At the limit: `502` with `{"error":"dns_failed"}`.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a forwarded request may wait for the upstream's response head. At the
/// limit: `504` with `{"error":"upstream_timeout"}`. Five minutes, because model APIs
/// can think for minutes before their first byte; the body itself then streams
/// without a deadline other than [`TUNNEL_IDLE_TIMEOUT`]-style idleness of the client.
pub const UPSTREAM_RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

/// A CONNECT tunnel with no byte in either direction for this long is closed (both
/// sockets shut down) and its audit line written with reason `idle timeout`. One hour
/// keeps idle-but-alive connections (database pools, long polls) working.
pub const TUNNEL_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// How often an open tunnel checks its idleness; the idle timeout is enforced to within
/// this much.
pub const TUNNEL_IDLE_CHECK: Duration = Duration::from_secs(15);

/// The longest any tunnel may live, busy or not. At the limit: closed with reason
/// `lifetime limit`; the client reconnects and is decided again by the policy then
/// in force. 24 h bounds how long a decision can outlive its context.
pub const TUNNEL_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Client connections (tunnels plus forward-proxy connections) open at once per
/// sandbox. At the limit: the new connection is answered `503` with
/// `{"error":"too_many_connections"}` and closed, and a deny line is audited; existing
/// connections are untouched. 4096 is well above what one agent needs (browsers cap at
/// 256) and bounds the supervisor's memory and descriptors (each tunnel holds two
/// sockets and, while bytes flow, two pipes).
pub const MAX_CONNECTIONS_PER_SANDBOX: usize = 4096;

/// How long `shutdown` waits for open connections to finish their audit lines after
/// they were told to close. At the limit the remaining tasks are abandoned.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Bytes moved per `splice` call (and the pipe size asked for). 1 MiB halves the
/// syscalls of the default 64 KiB pipe on bulk transfers; the kernel caps it at
/// `/proc/sys/fs/pipe-max-size` and we fall back to whatever it grants.
pub const RELAY_CHUNK_BYTES: usize = 1024 * 1024;

/// Buffer per direction when relaying by copy instead of splice.
pub const RELAY_COPY_BUFFER_BYTES: usize = 256 * 1024;

/// Pending approval requests kept per sandbox (distinct host, port and binary). At the
/// limit: the request seen least recently is dropped to make room (its next denial
/// brings it back). An agent probing thousands of destinations cannot grow the
/// supervisor's memory, and an operator reads a few hundred requests at most.
pub const MAX_PENDING_APPROVALS: usize = 256;

/// Dismissed approval requests remembered per sandbox (`cordon deny`), so that the next
/// identical attempt is refused without coming back as a request. At the limit: the
/// oldest dismissal is forgotten (that destination may be requested again).
pub const MAX_DISMISSED_APPROVALS: usize = 1024;

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit and returns the new
/// soft limit. Each tunnel holds two sockets (and two pipes while bytes flow), so the
/// common default soft limit of 1024 would cap a sandbox near 500 tunnels, far below
/// [`MAX_CONNECTIONS_PER_SANDBOX`]. The supervisor calls this once at start.
pub fn raise_descriptor_limit() -> u64 {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).is_ok() {
        limit.maximum.unwrap_or(u64::MAX)
    } else {
        limit.current.unwrap_or(u64::MAX)
    }
}

/// The runtime values of the limits above, so tests and benchmarks can lower or raise
/// them without touching the defaults.
#[derive(Debug, Clone)]
pub struct Limits {
    /// See [`MAX_CONNECTIONS_PER_SANDBOX`].
    pub max_connections: usize,
    /// See [`CLIENT_HEAD_TIMEOUT`].
    pub client_head_timeout: Duration,
    /// See [`CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// See [`TUNNEL_IDLE_TIMEOUT`].
    pub tunnel_idle_timeout: Duration,
    /// See [`TUNNEL_MAX_LIFETIME`].
    pub tunnel_max_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS_PER_SANDBOX,
            client_head_timeout: CLIENT_HEAD_TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
            tunnel_idle_timeout: TUNNEL_IDLE_TIMEOUT,
            tunnel_max_lifetime: TUNNEL_MAX_LIFETIME,
        }
    }
}
