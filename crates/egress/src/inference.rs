//! `inference.local`: the one destination decided without `network_policies`. Requests
//! addressed to it — absolute-form `http://inference.local/...`, or a CONNECT tunnel to
//! `inference.local` carrying plain HTTP or TLS (terminated with a leaf from the
//! sandbox CA) — are answered by the inference router ([`cordon_inference`]), which
//! adds the provider's key and writes its own audit line per request (action
//! `route`). The caller's binary is still identified, and a binary that changed since
//! first use is refused as everywhere else. Connections captured transparently
//! (`transparent.rs`) to the policy DNS's address for `inference.local` get the same.

use std::sync::Arc;
use std::time::Duration;

use cordon_audit::{Action, Transport};
use cordon_inference::{INFERENCE_HOST, InferenceRouter};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::caller::Caller;
use crate::decide::{self, Target};
use crate::limits::{MAX_REQUEST_HEAD_BYTES, MAX_REQUEST_HEADERS};
use crate::respond::{self, ProxyBody};
use crate::server::{ConnState, Shared};
use crate::tls::{Sniffed, sniff};

/// How long a client may take after the CONNECT answer to send its first bytes and
/// finish a TLS handshake. At the limit: the tunnel is closed with an audit line.
const CLIENT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the request (CONNECT or absolute-form) names `inference.local`.
pub(crate) fn addressed(req: &Request<Incoming>) -> bool {
    req.uri().host().is_some_and(|host| {
        host.trim_end_matches('.')
            .eq_ignore_ascii_case(INFERENCE_HOST)
    })
}

/// Answers a request addressed to `inference.local`.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
    router: &InferenceRouter,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    let connect = req.method() == Method::CONNECT;
    let port = req
        .uri()
        .port_u16()
        .unwrap_or(if connect { 443 } else { 80 });
    let target = Target {
        host: INFERENCE_HOST.to_owned(),
        port,
    };
    let caller = conn.caller(shared).await;
    if let Some(changed) = &caller.changed {
        let transport = if connect {
            Transport::Tunnel
        } else {
            Transport::Forward
        };
        let ev = decide::event(
            shared,
            &caller,
            &target,
            shared.policy.number(),
            Action::Deny,
            transport,
        )
        .with_reason(changed.to_string());
        shared.audit.emit(ev.into_event());
        return respond::error(
            StatusCode::FORBIDDEN,
            "binary_changed",
            &changed.to_string(),
        );
    }
    let who = router_caller(&caller, port);
    if !connect {
        return router.handle(req, who).await;
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shared = Arc::clone(shared);
    let router = router.clone();
    let permit = conn.permit();
    tokio::spawn(async move {
        let _permit = permit;
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else {
            return;
        };
        if let Err(reason) =
            tunnel(&shared, router, who, parts.io.into_inner(), parts.read_buf).await
        {
            audit_refusal(&shared, &caller, &target, reason);
        }
    });
    Response::new(respond::empty())
}

/// Serves a connection to `inference.local` captured transparently (a client that
/// ignored the proxy variables and resolved the name through the policy DNS): the
/// same router, plain HTTP or TLS, as a CONNECT tunnel would get. Refusals (a changed
/// binary, a client speaking neither protocol) are audited and the connection closed.
pub(crate) async fn captured(
    shared: &Arc<Shared>,
    router: InferenceRouter,
    caller: Arc<Caller>,
    port: u16,
    client: TcpStream,
) {
    let refusal = match &caller.changed {
        Some(changed) => Some(changed.to_string()),
        None => tunnel(
            shared,
            router,
            router_caller(&caller, port),
            client,
            bytes::Bytes::new(),
        )
        .await
        .err(),
    };
    if let Some(reason) = refusal {
        let target = Target {
            host: INFERENCE_HOST.to_owned(),
            port,
        };
        audit_refusal(shared, &caller, &target, reason);
    }
}

/// The audit line of a connection to `inference.local` refused before the router
/// could answer it (a changed binary, a client speaking neither HTTP nor TLS).
fn audit_refusal(shared: &Shared, caller: &Caller, target: &Target, reason: String) {
    let ev = decide::event(
        shared,
        caller,
        target,
        shared.policy.number(),
        Action::Deny,
        Transport::Tunnel,
    )
    .with_reason(reason);
    shared.audit.emit(ev.into_event());
}

fn router_caller(caller: &Caller, port: u16) -> cordon_inference::Caller {
    cordon_inference::Caller {
        port,
        src: caller.src,
        binary: caller.binary.clone(),
        binary_sha256: caller.sha256.clone(),
        pid: caller.pid,
        tls: false,
    }
}

/// Serves a CONNECT tunnel to `inference.local`: plain HTTP as it is, TLS terminated
/// with the sandbox CA. `Err` = why the tunnel could not be served (audited).
async fn tunnel(
    shared: &Arc<Shared>,
    router: InferenceRouter,
    mut who: cordon_inference::Caller,
    client: TcpStream,
    prefix: bytes::Bytes,
) -> Result<(), String> {
    let (class, stream) = tokio::time::timeout(CLIENT_START_TIMEOUT, sniff(client, prefix))
        .await
        .map_err(|_| "inference.local tunnel: the client sent nothing in time".to_owned())?
        .map_err(|err| format!("inference.local tunnel: reading from the client failed: {err}"))?;
    match class {
        Sniffed::Http => {
            serve(shared, router, who, stream).await;
            Ok(())
        }
        Sniffed::Tls => {
            let inspection = shared.inspection.as_ref().ok_or_else(|| {
                "https://inference.local needs the sandbox CA, and TLS inspection is not configured for this sandbox; use http://inference.local".to_owned()
            })?;
            let accepted = tokio::time::timeout(
                CLIENT_START_TIMEOUT,
                inspection.terminator().accept(stream, INFERENCE_HOST),
            )
            .await
            .map_err(|_| "inference.local: TLS handshake with the client timed out".to_owned())?
            .map_err(|err| format!("inference.local: {err}"))?;
            who.tls = true;
            serve(shared, router, who, accepted.stream).await;
            Ok(())
        }
        Sniffed::Other => {
            Err("inference.local tunnel: the client spoke neither TLS nor HTTP".into())
        }
    }
}

/// HTTP/1.1 on the tunnel, every request answered by the router, until the client is
/// done or the proxy shuts down.
async fn serve<S>(
    shared: &Arc<Shared>,
    router: InferenceRouter,
    who: cordon_inference::Caller,
    io: S,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        let who = who.clone();
        async move { Ok::<_, std::convert::Infallible>(router.handle(req, who).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.client_head_timeout)
        .max_header_size(MAX_REQUEST_HEAD_BYTES)
        .max_headers(MAX_REQUEST_HEADERS)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut shutdown = shared.shutdown.clone();
    tokio::select! {
        _ = connection.as_mut() => {}
        () = crate::server::stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(crate::limits::SHUTDOWN_GRACE, connection).await;
        }
    }
}
