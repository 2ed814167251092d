//! The upstream half of an inspected connection: one HTTP/1.1 client connection to
//! the destination, over verified TLS when the client spoke TLS, kept for the next
//! request and replaced when the server closes it.
//!
//! Only the addresses the connection's decision validated are dialled (no second
//! DNS lookup); the first connection reuses the socket dialled before the client got
//! its `200` to CONNECT.

use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::body::CountingBody;
use crate::dial::{DialFailure, dial};
use crate::tls::UpstreamTls;

/// Request bodies sent upstream: the client's (placeholder-guarded or substituted),
/// counted.
pub(crate) type UpBody = CountingBody<crate::credentials::OutBody>;

/// Any byte stream an upstream HTTP connection can run on (TCP or TLS over TCP).
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The destination side of one inspected client connection.
pub(crate) struct Origin {
    host: String,
    addrs: Vec<SocketAddr>,
    tls: Option<UpstreamTls>,
    connect_timeout: std::time::Duration,
    /// The socket dialled during the CONNECT decision, used for the first request.
    first: Option<(TcpStream, SocketAddr)>,
    sender: Option<SendRequest<UpBody>>,
    addr: Option<SocketAddr>,
}

impl Origin {
    /// `tls`: verify and encrypt with this configuration (the client spoke TLS).
    pub(crate) fn new(
        host: &str,
        addrs: Vec<SocketAddr>,
        tls: Option<UpstreamTls>,
        connect_timeout: std::time::Duration,
        first: (TcpStream, SocketAddr),
    ) -> Origin {
        Origin {
            host: host.to_owned(),
            addrs,
            tls,
            connect_timeout,
            first: Some(first),
            sender: None,
            addr: None,
        }
    }

    /// The address of the current upstream connection.
    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// A connection ready for the next request: the kept one if it is still open,
    /// otherwise a new one.
    pub(crate) async fn ready(&mut self) -> Result<&mut SendRequest<UpBody>, DialFailure> {
        let usable = match self.sender.as_mut() {
            Some(sender) if !sender.is_closed() => sender.ready().await.is_ok(),
            _ => false,
        };
        if !usable {
            self.sender = Some(self.connect().await?);
        }
        self.sender.as_mut().ok_or_else(|| DialFailure {
            status: StatusCode::BAD_GATEWAY,
            code: "upstream_failed",
            reason: "no upstream connection".into(),
            ip: None,
        })
    }

    async fn connect(&mut self) -> Result<SendRequest<UpBody>, DialFailure> {
        let (tcp, addr) = match self.first.take() {
            Some(first) => first,
            None => dial(&self.addrs, self.connect_timeout).await?,
        };
        self.addr = Some(addr);
        let io: Box<dyn Io> = match &self.tls {
            Some(tls) => {
                let stream =
                    tokio::time::timeout(self.connect_timeout, tls.connect(&self.host, tcp))
                        .await
                        .map_err(|_| DialFailure {
                            status: StatusCode::GATEWAY_TIMEOUT,
                            code: "upstream_timeout",
                            reason: format!("TLS handshake with {addr} timed out"),
                            ip: Some(addr.ip()),
                        })?
                        .map_err(|err| DialFailure {
                            status: StatusCode::BAD_GATEWAY,
                            code: "upstream_tls_failed",
                            reason: err.to_string(),
                            ip: Some(addr.ip()),
                        })?;
                Box::new(stream)
            }
            None => Box::new(tcp),
        };
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|err| DialFailure {
                status: StatusCode::BAD_GATEWAY,
                code: "upstream_failed",
                reason: format!("HTTP handshake with {addr} failed: {err}"),
                ip: Some(addr.ip()),
            })?;
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        Ok(sender)
    }
}

/// Shared handle: requests on one client connection are sequential, the lock only
/// serialises them with the session's shutdown.
pub(crate) type SharedOrigin = Arc<tokio::sync::Mutex<Origin>>;
