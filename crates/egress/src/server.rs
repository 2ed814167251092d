//! The proxy server: built from an [`EgressConfig`], it serves the listener the
//! supervisor was handed (bound inside the sandbox's network namespace), enforces the
//! connection limit, and routes each request to CONNECT tunnelling or forwarding.
//! [`EgressProxy`] is the handle the supervisor keeps: reload, stats, shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cordon_audit::{Action, AuditSink, CounterSnapshot, NetworkEvent, Transport};
use cordon_policy::{CompiledPolicy, Policy};
use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, OnceCell, OwnedSemaphorePermit, Semaphore, watch};

use crate::caller::Caller;
use crate::error::{EgressError, ReloadError};
use crate::forward::Upstream;
use crate::generation::PolicyHandle;
use crate::hosts::StaticHosts;
use crate::limits::{Limits, MAX_REQUEST_HEAD_BYTES, MAX_REQUEST_HEADERS, SHUTDOWN_GRACE};
use crate::peer::{PeerFinder, PeerScope};
use crate::relay::RelayMode;
use crate::resolve::{DnsMode, Resolver};
use crate::respond::{self, ProxyBody};
use crate::ssrf::HostAddrs;
use crate::tofu::BinaryTrust;
use crate::{connect, forward};

/// Everything the proxy is built from. Plain data: the proxy reads no environment,
/// file or global of its own.
#[derive(Debug)]
pub struct EgressConfig {
    /// Sandbox name, written to every audit line.
    pub sandbox: String,
    /// The listening socket (inside the sandbox's network namespace), already bound.
    pub listener: std::net::TcpListener,
    /// The reloadable policy.
    pub policy: PolicyHandle,
    /// Where decisions are recorded.
    pub audit: AuditSink,
    /// Which processes are the sandbox (for binary identity).
    pub peers: PeerScope,
    /// Names pinned to addresses before DNS (`--add-host`).
    pub hosts: StaticHosts,
    /// DNS for names not pinned.
    pub dns: DnsMode,
    /// Bounds (defaults: the constants in [`crate::limits`]).
    pub limits: Limits,
    /// How tunnel bytes are moved.
    pub relay: RelayMode,
    /// TLS termination and request rules for `protocol: rest`/`websocket` endpoints
    /// (the sandbox CA); `None` = such tunnels are refused unless nothing is to check.
    pub inspection: Option<crate::l7::Inspection>,
    /// The inference router that answers `inference.local` (`None`: that name is
    /// decided like any other host).
    pub inference: Option<cordon_inference::InferenceRouter>,
    /// The sandbox's credential placeholders and the real values they stand for,
    /// swapped on inspected requests to endpoints binding them (empty: every
    /// placeholder-shaped value is refused).
    pub credentials: Arc<cordon_secrets::Substitutor>,
}

impl EgressConfig {
    /// A config with default limits, system DNS, no pinned hosts and splice relaying.
    pub fn new(
        sandbox: &str,
        listener: std::net::TcpListener,
        policy: PolicyHandle,
        audit: AuditSink,
        peers: PeerScope,
    ) -> EgressConfig {
        EgressConfig {
            sandbox: sandbox.to_owned(),
            listener,
            policy,
            audit,
            peers,
            hosts: StaticHosts::new(),
            dns: DnsMode::System,
            limits: Limits::default(),
            relay: RelayMode::Splice,
            inspection: None,
            inference: None,
            credentials: Arc::default(),
        }
    }
}

/// State shared by every connection of one proxy.
pub(crate) struct Shared {
    pub sandbox: String,
    pub policy: PolicyHandle,
    pub audit: AuditSink,
    pub resolver: Resolver,
    pub peers: PeerFinder,
    pub trust: BinaryTrust,
    pub host_addrs: HostAddrs,
    pub limits: Limits,
    pub relay_mode: RelayMode,
    pub inspection: Option<crate::l7::Inspection>,
    pub inference: Option<cordon_inference::InferenceRouter>,
    pub credentials: Arc<cordon_secrets::Substitutor>,
    /// Destinations refused for want of an entry, waiting for the operator.
    pub approvals: Arc<crate::approvals::Approvals>,
    pub shutdown: watch::Receiver<bool>,
    total_connections: AtomicU64,
    rejected_connections: AtomicU64,
}

/// Per client connection: who the caller is (looked up once) and the upstream
/// connection kept for the next forwarded request.
pub(crate) struct ConnState {
    src: SocketAddr,
    local: SocketAddr,
    caller: OnceCell<Arc<Caller>>,
    permit: Arc<OwnedSemaphorePermit>,
    upstream: Mutex<Option<Upstream>>,
}

impl ConnState {
    /// The caller of this connection, identified on first use.
    pub(crate) async fn caller(&self, shared: &Arc<Shared>) -> Arc<Caller> {
        Arc::clone(
            self.caller
                .get_or_init(|| async {
                    Arc::new(Caller::identify(shared, self.src, self.local).await)
                })
                .await,
        )
    }

    /// A share of this connection's slot under the connection limit: a tunnel keeps
    /// it after hyper lets go of the connection.
    pub(crate) fn permit(&self) -> Arc<OwnedSemaphorePermit> {
        Arc::clone(&self.permit)
    }

    pub(crate) async fn take_upstream(&self) -> Option<Upstream> {
        self.upstream.lock().await.take()
    }

    pub(crate) async fn keep_upstream(&self, upstream: Upstream) {
        *self.upstream.lock().await = Some(upstream);
    }
}

/// Counters for `cordon status` and the `-v` summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressStats {
    /// Client connections open now (tunnels included).
    pub active_connections: usize,
    /// Client connections accepted since start.
    pub total_connections: u64,
    /// Connections refused because the limit was reached.
    pub rejected_connections: u64,
    /// The policy generation in force.
    pub generation: u64,
    /// Decision counts (allowed, denied, audit-denied, ...).
    pub decisions: CounterSnapshot,
    /// Transparent capture is active: the sandbox's redirect rules are in place and
    /// the proxy serves the captured connections and the policy DNS.
    pub transparent: bool,
}

/// A running proxy. Dropping it stops accepting and closes open connections.
pub struct EgressProxy {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    semaphore: Arc<Semaphore>,
    stop: watch::Sender<bool>,
    /// Set once transparent capture is served with the sandbox's rules active.
    transparent: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressProxy")
            .field("sandbox", &self.shared.sandbox)
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl EgressProxy {
    /// Starts serving `config.listener` on the current tokio runtime.
    pub fn start(config: EgressConfig) -> Result<EgressProxy, EgressError> {
        config
            .listener
            .set_nonblocking(true)
            .map_err(EgressError::Listener)?;
        let local_addr = config
            .listener
            .local_addr()
            .map_err(EgressError::Listener)?;
        let listener = TcpListener::from_std(config.listener).map_err(EgressError::Listener)?;
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            sandbox: config.sandbox,
            policy: config.policy,
            audit: config.audit,
            resolver: Resolver::new(config.hosts, &config.dns)?,
            peers: PeerFinder::new(config.peers),
            trust: BinaryTrust::new(),
            host_addrs: HostAddrs::default(),
            relay_mode: config.relay,
            inspection: config.inspection,
            inference: config.inference,
            credentials: config.credentials,
            approvals: Arc::new(crate::approvals::Approvals::new()),
            shutdown,
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            limits: config.limits,
        });
        let semaphore = Arc::new(Semaphore::new(shared.limits.max_connections));
        tokio::spawn(accept_loop(
            Arc::clone(&shared),
            listener,
            Arc::clone(&semaphore),
        ));
        Ok(EgressProxy {
            shared,
            local_addr,
            semaphore,
            stop,
            transparent: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The address the proxy listens on (inside the sandbox).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The policy handle (give a clone to [`crate::PolicyWatcher`] or the control API).
    pub fn policy(&self) -> &PolicyHandle {
        &self.shared.policy
    }

    /// The pending approvals: destinations refused because no entry allows them.
    pub fn approvals(&self) -> &Arc<crate::approvals::Approvals> {
        &self.shared.approvals
    }

    /// The audit sink decisions go to.
    pub fn audit(&self) -> &AuditSink {
        &self.shared.audit
    }

    /// Also serves transparent capture (`transparent`): redirected TCP connections and
    /// the policy DNS, decided by the same policy, audited to the same sink, under the
    /// same connection limit. Call once, after [`EgressProxy::start`].
    pub fn serve_transparent(
        &self,
        config: crate::transparent::TransparentConfig,
    ) -> Result<(), EgressError> {
        let active = config.active;
        crate::transparent::start(&self.shared, &self.semaphore, config)?;
        self.transparent.store(active, Ordering::Relaxed);
        Ok(())
    }

    /// Installs an already compiled policy as the next generation.
    pub fn reload(&self, compiled: CompiledPolicy) -> u64 {
        self.shared.policy.replace(compiled)
    }

    /// Reloads from a parsed policy: refuses static-section changes, audits either way.
    pub fn apply(&self, policy: &Policy, source: &str) -> Result<u64, ReloadError> {
        self.shared
            .policy
            .apply(policy, source, &self.shared.sandbox, &self.shared.audit)
    }

    /// Current counters.
    pub fn stats(&self) -> EgressStats {
        EgressStats {
            active_connections: self.shared.limits.max_connections
                - self.semaphore.available_permits(),
            total_connections: self.shared.total_connections.load(Ordering::Relaxed),
            rejected_connections: self.shared.rejected_connections.load(Ordering::Relaxed),
            generation: self.shared.policy.number(),
            decisions: self.shared.audit.counters(),
            transparent: self.transparent.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, closes open connections (tunnels write their audit lines) and
    /// waits for them up to [`SHUTDOWN_GRACE`]. Returns the final counters.
    pub async fn shutdown(self) -> EgressStats {
        self.stop.send_replace(true);
        let all = u32::try_from(self.shared.limits.max_connections).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.semaphore.acquire_many(all)).await;
        self.stats()
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, semaphore: Arc<Semaphore>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let (stream, src) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of descriptors or a transient error: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => return,
        };
        let _ = stream.set_nodelay(true);
        shared.total_connections.fetch_add(1, Ordering::Relaxed);
        match Arc::clone(&semaphore).try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(serve_client(Arc::clone(&shared), stream, src, permit));
            }
            Err(_) => {
                shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(reject_over_limit(Arc::clone(&shared), stream, src));
            }
        }
    }
}

/// Answers `503` without reading the request and audits the refusal.
async fn reject_over_limit(shared: Arc<Shared>, mut stream: TcpStream, src: SocketAddr) {
    let limit = shared.limits.max_connections;
    let mut ev = NetworkEvent::new(
        &shared.sandbox,
        shared.policy.number(),
        Action::Deny,
        Transport::Tunnel,
        "",
        0,
    )
    .with_reason(format!(
        "connection limit reached ({limit} open connections)"
    ));
    ev.src = Some(src);
    shared.audit.emit(ev.into_event());
    let reply = respond::overloaded_raw(limit);
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&reply)).await;
}

async fn serve_client(
    shared: Arc<Shared>,
    stream: TcpStream,
    src: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let conn = Arc::new(ConnState {
        src,
        local,
        caller: OnceCell::new(),
        permit: Arc::new(permit),
        upstream: Mutex::new(None),
    });
    let service = {
        let shared = Arc::clone(&shared);
        let conn = Arc::clone(&conn);
        service_fn(move |req: Request<Incoming>| {
            let shared = Arc::clone(&shared);
            let conn = Arc::clone(&conn);
            async move { Ok::<_, Infallible>(route(&shared, &conn, req).await) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.client_head_timeout)
        .max_header_size(MAX_REQUEST_HEAD_BYTES)
        .max_headers(MAX_REQUEST_HEADERS)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutdown = shared.shutdown.clone();
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
    }
}

/// Resolves once the proxy is told to stop.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn route(
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    if let Some(router) = &shared.inference
        && crate::inference::addressed(&req)
    {
        return crate::inference::handle(shared, conn, router, req).await;
    }
    if req.method() == Method::CONNECT {
        connect::handle(shared, conn, req).await
    } else {
        forward::handle(shared, conn, req).await
    }
}
