//! An allowed CONNECT tunnel to an inspected endpoint, served in clear: look at the
//! first bytes, terminate TLS with a leaf minted for the target (or take plain HTTP
//! as it is), put the framing guard in front, and serve HTTP/1.1 with hyper, each
//! request decided on its own ([`super::exchange`]).
//!
//! One audit line per request, plus one for the tunnel when it ends (bytes,
//! duration, request count) or when it could not be inspected at all (client
//! rejected our certificate, SNI mismatch, not HTTP).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cordon_audit::{Action, Transport};
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::exchange;
use super::gate::Gate;
use super::origin::Origin;
use super::session::{Session, View};
use crate::caller::Caller;
use crate::decide::{self, Go, Target};
use crate::limits::{MAX_REQUEST_HEAD_BYTES, MAX_REQUEST_HEADERS};
use crate::server::Shared;
use crate::tls::{AcceptError, LeafCache, SandboxCa, Sniffed, TlsTerminator, UpstreamTls, sniff};

/// How long a client may take, after its CONNECT was answered, to send its first
/// bytes and finish the TLS handshake. At the limit: the tunnel is closed with an
/// audit line. 10 s is generous for a handshake on loopback.
pub const CLIENT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What inspection needs, built by the supervisor: the sandbox CA (through its leaf
/// cache) and the verifier for upstream servers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Inspection {
    terminator: TlsTerminator,
    upstream: UpstreamTls,
}

impl Inspection {
    /// Inspection signing leaves with `ca` and verifying upstreams with `upstream`.
    pub fn new(ca: Arc<SandboxCa>, upstream: UpstreamTls) -> Inspection {
        Inspection {
            terminator: TlsTerminator::new(Arc::new(LeafCache::new(ca))),
            upstream,
        }
    }

    /// The client-side terminator (and through it the leaf cache and CA).
    pub fn terminator(&self) -> &TlsTerminator {
        &self.terminator
    }

    /// The upstream verifier.
    pub fn upstream(&self) -> &UpstreamTls {
        &self.upstream
    }
}

/// Serves an allowed tunnel to an inspected endpoint until it ends.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    shared: Arc<Shared>,
    inspection: Inspection,
    caller: Arc<Caller>,
    target: Target,
    go: Go,
    client: TcpStream,
    prefix: Bytes,
    upstream: (TcpStream, SocketAddr),
) {
    let started = Instant::now();
    let ip = upstream.1.ip();
    let tunnel_line = |reason: String, action: Action, up: u64, down: u64| {
        let mut ev = decide::event(
            &shared,
            &caller,
            &target,
            go.generation.number,
            action,
            Transport::Tunnel,
        );
        ev.start_ms = ev.time_ms.saturating_sub(exchange::elapsed_ms(started));
        ev.entry = go.entry.clone();
        ev.ip = Some(ip);
        ev.bytes_up = up;
        ev.bytes_down = down;
        ev.duration_ms = Some(exchange::elapsed_ms(started));
        shared.audit.emit(ev.with_reason(reason).into_event());
    };
    let sniffed = tokio::time::timeout(CLIENT_HANDSHAKE_TIMEOUT, sniff(client, prefix)).await;
    let (class, stream) = match sniffed {
        Ok(Ok(sniffed)) => sniffed,
        Ok(Err(err)) => {
            tunnel_line(
                format!("inspected tunnel: reading from the client failed: {err}"),
                Action::Allow,
                0,
                0,
            );
            return;
        }
        Err(_) => {
            tunnel_line(
                "inspected tunnel: the client sent nothing in time".into(),
                Action::Allow,
                0,
                0,
            );
            return;
        }
    };
    let (Some(endpoint), Some(nonce)) = (go.endpoint, nonce()) else {
        tunnel_line(
            "inspected tunnel: internal error (no endpoint or no randomness)".into(),
            Action::Deny,
            0,
            0,
        );
        return;
    };
    let view = View {
        generation: Arc::clone(&go.generation),
        endpoint,
        entry: go.entry.clone(),
    };
    let tls = class == Sniffed::Tls;
    let origin = Origin::new(
        &target.host,
        go.addrs.clone(),
        tls.then(|| inspection.upstream.clone()),
        shared.limits.connect_timeout,
        upstream,
    );
    let origin = Arc::new(tokio::sync::Mutex::new(origin));
    let served = match class {
        Sniffed::Tls => {
            let accepted = tokio::time::timeout(
                CLIENT_HANDSHAKE_TIMEOUT,
                inspection.terminator.accept(stream, &target.host),
            )
            .await;
            match accepted {
                Ok(Ok(accepted)) => {
                    let gate = Gate::new(accepted.stream, nonce);
                    let session = Arc::new(Session::new(Arc::clone(&shared), Arc::clone(&caller), target.clone(), true, origin, gate.shared(), ip, view));
                    serve(&shared, Arc::clone(&session), gate).await;
                    Ok(session)
                }
                Ok(Err(err)) => Err(refusal_reason(&err, &go)),
                Err(_) => Err("TLS handshake with the client timed out".into()),
            }
        }
        Sniffed::Http => {
            let gate = Gate::new(stream, nonce);
            let session = Arc::new(Session::new(Arc::clone(&shared), Arc::clone(&caller), target.clone(), false, origin, gate.shared(), ip, view));
            serve(&shared, Arc::clone(&session), gate).await;
            Ok(session)
        }
        Sniffed::Other => Err("the client spoke neither TLS nor HTTP; an inspected endpoint (protocol: rest/websocket) carries HTTP only (use `tls: skip` or no protocol for other traffic)".into()),
    };
    match served {
        Ok(session) => {
            let requests = session.requests.load(Ordering::Relaxed);
            let kind = if session.tls { "TLS" } else { "plain HTTP" };
            tunnel_line(
                format!("inspected tunnel ({kind}) closed after {requests} requests"),
                decide::pass_action(go.verdict),
                session.up.load(Ordering::Relaxed),
                session.down.load(Ordering::Relaxed),
            );
        }
        Err(reason) => tunnel_line(reason, Action::Deny, 0, 0),
    }
}

/// The audit reason for a client whose TLS could not be terminated, with the fix.
fn refusal_reason(err: &AcceptError, go: &Go) -> String {
    let at = go
        .endpoint
        .map(|id| {
            let ep = go.generation.compiled.endpoint(id);
            format!("network_policies.{}.endpoints[{}]", ep.entry, ep.index)
        })
        .unwrap_or_else(|| "the endpoint".into());
    match err {
        AcceptError::ClientRejectedCertificate { .. } => format!(
            "TLS inspection failed: {err}. If this client must pin its own CA, allow the host at L4 instead: remove `protocol` and the request rules from {at} (optionally with `tls: skip`); its requests are then not inspected"
        ),
        _ => format!("TLS inspection failed: {err}"),
    }
}

/// Serves HTTP/1.1 on the guarded client stream until the client is done, the
/// proxy shuts down, or the tunnel outlives its maximum lifetime.
async fn serve<S>(shared: &Arc<Shared>, session: Arc<Session>, gate: Gate<S>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let session = Arc::clone(&session);
        async move { Ok::<_, std::convert::Infallible>(exchange::handle(&session, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.client_head_timeout)
        .max_header_size(MAX_REQUEST_HEAD_BYTES)
        .max_headers(MAX_REQUEST_HEADERS)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(gate), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutdown = shared.shutdown.clone();
    let lifetime = shared.limits.tunnel_max_lifetime;
    tokio::select! {
        _ = connection.as_mut() => {}
        () = crate::server::stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(crate::limits::SHUTDOWN_GRACE, connection).await;
        }
        () = tokio::time::sleep(lifetime) => {}
    }
}

/// A per-connection secret for the framing guard's refusal requests (`None` if the
/// system has no randomness to give: the tunnel is then refused, never guarded by a
/// guessable secret).
fn nonce() -> Option<String> {
    let mut raw = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut raw)
        .ok()?;
    Some(hex::encode(raw))
}
