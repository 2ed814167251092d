//! The client side: connections to providers (DNS → TCP → TLS → HTTP/1.1), kept alive
//! in a small per-origin pool so a burst of small requests does not pay a handshake
//! each. A connection returns to the pool only when its response body has been read
//! to the end (an abandoned stream leaves the connection mid-response: it is closed).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::tls::LazyTls;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::BaseUrl;
use crate::limits::{
    CONNECT_TIMEOUT, MAX_IDLE_PER_ORIGIN, POOL_IDLE_TIMEOUT, RESPONSE_HEAD_TIMEOUT,
};
use crate::resolve::Resolver;

/// Request body type sent upstream: the (rewritten) body is complete before sending.
pub(crate) type UpstreamBody = Full<Bytes>;

/// How long a pooled connection may take to become ready for its next request.
const POOL_READY_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct OriginKey {
    tls: bool,
    host: String,
    port: u16,
}

impl OriginKey {
    fn of(base: &BaseUrl) -> OriginKey {
        OriginKey {
            tls: base.tls(),
            host: base.host().to_owned(),
            port: base.port(),
        }
    }
}

/// A connection in use by one exchange.
pub(crate) struct Connection {
    sender: SendRequest<UpstreamBody>,
    key: OriginKey,
    /// The address dialled (for the audit line).
    pub(crate) ip: IpAddr,
}

struct Idle {
    conn: Connection,
    since: Instant,
}

/// Why no response came back. Becomes a 502/504 and an audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UpstreamFailure {
    /// DNS, TCP or TLS failed: 502.
    Connect(String),
    /// Connecting or waiting for the response head took too long: 504.
    Timeout(&'static str),
    /// The provider broke the HTTP exchange: 502.
    Protocol(String),
}

/// Provider connections: TLS configuration, resolver and the idle pool.
pub(crate) struct Upstream {
    tls: LazyTls,
    resolver: Resolver,
    idle: Mutex<HashMap<OriginKey, Vec<Idle>>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

impl Upstream {
    pub(crate) fn new(tls: LazyTls) -> Upstream {
        Upstream {
            tls,
            resolver: Resolver::default(),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// Sends the request built by `make` to `base`'s origin: on a pooled connection
    /// when one is ready, else a new one. A pooled connection the server closed while
    /// idle fails before any response; that one case is retried once on a fresh
    /// connection.
    pub(crate) async fn send(
        &self,
        base: &BaseUrl,
        make: impl Fn() -> Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, Connection), UpstreamFailure> {
        let key = OriginKey::of(base);
        if let Some(conn) = self.checkout(&key).await {
            match Self::exchange(conn, make()).await {
                Ok(done) => return Ok(done),
                Err(Retry::Yes) => {}
                Err(Retry::No(failure)) => return Err(failure),
            }
        }
        let conn = self.connect(base, key).await?;
        Self::exchange(conn, make())
            .await
            .map_err(|retry| match retry {
                Retry::Yes => {
                    UpstreamFailure::Protocol("the provider closed the connection".into())
                }
                Retry::No(failure) => failure,
            })
    }

    async fn exchange(
        mut conn: Connection,
        req: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, Connection), Retry> {
        match tokio::time::timeout(RESPONSE_HEAD_TIMEOUT, conn.sender.send_request(req)).await {
            Err(_) => Err(Retry::No(UpstreamFailure::Timeout(
                "no response head from the provider in time",
            ))),
            Ok(Ok(response)) => Ok((response, conn)),
            Ok(Err(err)) if err.is_canceled() || err.is_incomplete_message() => Err(Retry::Yes),
            Ok(Err(err)) => Err(Retry::No(UpstreamFailure::Protocol(err.to_string()))),
        }
    }

    /// Returns a connection whose response was read to the end.
    pub(crate) fn release(&self, conn: Connection) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(conn.key.clone()).or_default();
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    async fn checkout(&self, key: &OriginKey) -> Option<Connection> {
        loop {
            let candidate = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.get_mut(key)?.pop()?
            };
            if candidate.since.elapsed() >= POOL_IDLE_TIMEOUT || candidate.conn.sender.is_closed() {
                continue;
            }
            let mut conn = candidate.conn;
            if conn.sender.is_ready() {
                return Some(conn);
            }
            if let Ok(Ok(())) = tokio::time::timeout(POOL_READY_WAIT, conn.sender.ready()).await {
                return Some(conn);
            }
        }
    }

    async fn connect(&self, base: &BaseUrl, key: OriginKey) -> Result<Connection, UpstreamFailure> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.dial(base, key))
            .await
            .map_err(|_| UpstreamFailure::Timeout("connecting to the provider took too long"))?
    }

    async fn dial(&self, base: &BaseUrl, key: OriginKey) -> Result<Connection, UpstreamFailure> {
        let addrs = self
            .resolver
            .resolve(base.host())
            .await
            .map_err(UpstreamFailure::Connect)?;
        let mut last = String::new();
        for ip in addrs {
            let stream = match TcpStream::connect((ip, base.port())).await {
                Ok(stream) => stream,
                Err(e) => {
                    last = format!("connecting to {ip}:{}: {e}", base.port());
                    continue;
                }
            };
            // Small SSE events must leave as soon as they are written.
            let _ = stream.set_nodelay(true);
            let sender = if base.tls() {
                let name = ServerName::try_from(base.host().to_owned()).map_err(|_| {
                    UpstreamFailure::Connect(format!("`{}` is not a TLS server name", base.host()))
                })?;
                let config = self.tls.get().map_err(|e| {
                    UpstreamFailure::Connect(format!("TLS client configuration: {e}"))
                })?;
                let tls = TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| {
                        UpstreamFailure::Connect(format!("TLS with {}: {e}", base.host()))
                    })?;
                handshake(tls).await?
            } else {
                handshake(stream).await?
            };
            return Ok(Connection { sender, key, ip });
        }
        Err(UpstreamFailure::Connect(last))
    }
}

enum Retry {
    /// The request never reached a live connection: safe to send again.
    Yes,
    No(UpstreamFailure),
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<UpstreamBody>, UpstreamFailure>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| UpstreamFailure::Protocol(e.to_string()))?;
    // The connection task ends when the connection closes or the sender is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
