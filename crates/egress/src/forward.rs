//! Absolute-form HTTP/1.1 forwarding (`GET http://host/path`): every request on a
//! keep-alive client connection is decided on its own, against the generation in
//! force when it arrives. Allowed requests go to the validated address over a
//! connection kept for the next request to the same destination; the response
//! streams back untouched apart from hop-by-hop headers. For endpoints with request
//! rules (`protocol: rest`), method and path are checked here too: plain HTTP needs no
//! TLS termination to be inspected.
//!
//! A WebSocket upgrade (`GET http://host/ws` with `Upgrade: websocket`) keeps its
//! `Upgrade` and `Connection: Upgrade` headers both ways, and after the `101` the two
//! connections are relayed by the same code as an upgrade inside an inspected tunnel
//! (`crate::l7::answer_upgrade`): with `protocol: websocket`, client text messages
//! are decided as `WEBSOCKET_TEXT` and a denied one closes the connection with 1008.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cordon_audit::{Action, AuditSink, HttpInfo, NetworkEvent, Transport};
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::body::CountingBody;
use crate::caller::Caller;
use crate::credentials::OutBody;
use crate::decide::{self, Outcome, Target};
use crate::dial::dial;
use crate::l7::{Relay, TextRules, View, strip_hop_by_hop};
use crate::limits::UPSTREAM_RESPONSE_TIMEOUT;
use crate::respond::{self, Denial, ProxyBody};
use crate::server::{ConnState, Shared};

/// The request body type sent upstream.
type UpBody = CountingBody<OutBody>;

/// A connection to one destination kept open between requests of one client
/// connection. Reused only for the same host, port and a still-validated address.
pub(crate) struct Upstream {
    addr: SocketAddr,
    target: Target,
    sender: SendRequest<UpBody>,
}

/// How long to wait for a kept upstream connection to accept the next request before
/// dialling a new one.
const REUSE_WAIT: Duration = Duration::from_secs(1);

/// Handles one non-CONNECT request.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let uri = req.uri().clone();
    match uri.scheme_str() {
        Some("http") => {}
        Some(_) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "only http:// URLs are forwarded; https goes through CONNECT",
            );
        }
        None => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                "not_a_proxy_request",
                "this is an HTTP proxy: send absolute-form requests (GET http://host/path) or CONNECT",
            );
        }
    }
    let Some(target) = uri
        .authority()
        .and_then(|a| Target::parse(a.as_str(), Some(80)))
    else {
        return respond::error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the URL has no valid host",
        );
    };
    let method = req.method().as_str().to_owned();
    let http = HttpInfo::new(&method, uri.path(), None);
    let websocket = crate::l7::head::is_websocket_upgrade(req.method(), req.headers());
    let caller = conn.caller(shared).await;

    let go = match decide::decide(shared, &caller, &target).await {
        Outcome::Go(go) => go,
        Outcome::Refused(refused) => {
            let mut ev = request_event(
                shared,
                &caller,
                &target,
                refused.generation,
                Action::Deny,
                &http,
            )
            .with_reason(&refused.reason);
            ev.entry = refused.entry.clone();
            ev.severity = refused.severity.max(ev.severity);
            shared.audit.emit(ev.into_event());
            return if refused.status == StatusCode::FORBIDDEN {
                respond::denied(&Denial {
                    host: &target.host,
                    port: target.port,
                    binary: caller.binary.as_deref(),
                    reason: &refused.reason,
                    hint: &refused.hint,
                    method: None,
                    path: None,
                })
            } else {
                respond::error(refused.status, refused.error, &refused.reason)
            };
        }
    };

    // Request rules, for endpoints that have them.
    let mut action = decide::pass_action(go.verdict);
    let mut reason = go.reason.clone();
    if let Some(id) = go.endpoint
        && go.generation.compiled.endpoint(id).inspect
    {
        // Path checks, decision, 403 body and hint: the same as in an inspected tunnel.
        let ruling = crate::l7::rule_forwarded(
            &go.generation.compiled,
            id,
            &target.host,
            target.port,
            caller.binary.as_deref(),
            &method,
            uri.path(),
            uri.query(),
        );
        match ruling {
            crate::l7::Ruling::Allow(why) => reason = why.or(reason),
            crate::l7::Ruling::AuditDeny(why) => {
                action = Action::AuditDeny;
                reason = Some(why);
            }
            crate::l7::Ruling::Deny(why, response) => {
                let mut ev = request_event(
                    shared,
                    &caller,
                    &target,
                    go.generation.number,
                    Action::Deny,
                    &http,
                )
                .with_reason(&why);
                ev.entry = go.entry.clone();
                shared.audit.emit(ev.into_event());
                return *response;
            }
        }
    }

    // Credential placeholders: substituted for a bound endpoint, refused elsewhere;
    // before anything is dialled.
    let binding = crate::credentials::binding(&go.generation, go.endpoint);
    let prepared =
        match crate::credentials::prepare(&shared.credentials, req, binding.as_ref()).await {
            Ok(prepared) => prepared,
            Err(refused) => {
                return refuse_credentials(shared, &caller, &target, &go, &http, &refused);
            }
        };
    let (mut req, tripped) = (prepared.request, prepared.tripped);
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
    // Text messages are decided only on an endpoint with `protocol: websocket`.
    let text_view = go
        .endpoint
        .map(|endpoint| View {
            generation: Arc::clone(&go.generation),
            endpoint,
            entry: go.entry.clone(),
        })
        .filter(|view| websocket && crate::l7::inspects_text(view));
    let mut ev = request_event(
        shared,
        &caller,
        &target,
        go.generation.number,
        action,
        &http,
    );
    ev.entry = go.entry.clone();
    ev.reason = crate::l7::join_reason(reason, prepared.note);
    let (mut sender, addr) = match upstream(conn, &go.addrs, &target, shared).await {
        Ok((sender, addr)) => {
            ev.ip = Some(addr.ip());
            (sender, addr)
        }
        Err(failure) => {
            ev.ip = failure.ip;
            ev.duration_ms = Some(elapsed_ms(started));
            shared
                .audit
                .emit(ev.with_reason(&failure.reason).into_event());
            return respond::error(failure.status, failure.code, &failure.reason);
        }
    };

    let up = Arc::new(AtomicU64::new(0));
    let upstream_req = match rewrite_request(req, &target, Arc::clone(&up), websocket) {
        Ok(mut r) => {
            crate::l7::restrict_offer(r.headers_mut(), text_view.is_some());
            r
        }
        Err(why) => return respond::error(StatusCode::BAD_REQUEST, "bad_request", &why),
    };
    let response =
        tokio::time::timeout(UPSTREAM_RESPONSE_TIMEOUT, sender.send_request(upstream_req)).await;
    if !websocket {
        // An upgraded connection is the WebSocket's, never the next request's.
        conn.keep_upstream(Upstream::new(addr, target.clone(), sender))
            .await;
    }
    let response = match response {
        Ok(Ok(response)) => response,
        Ok(Err(_)) if tripped.load(Ordering::SeqCst) => {
            let refused = crate::credentials::Refused::GuardedBody;
            return refuse_credentials(shared, &caller, &target, &go, &http, &refused);
        }
        Ok(Err(err)) => {
            let why = format!("upstream request failed: {err}");
            ev.duration_ms = Some(elapsed_ms(started));
            shared.audit.emit(ev.with_reason(&why).into_event());
            return respond::error(StatusCode::BAD_GATEWAY, "upstream_failed", &why);
        }
        Err(_) => {
            let why = "upstream sent no response head in time".to_owned();
            ev.duration_ms = Some(elapsed_ms(started));
            shared.audit.emit(ev.with_reason(&why).into_event());
            return respond::error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", &why);
        }
    };

    if let Some(client_upgrade) = client_upgrade {
        let texts = text_view.map(|view| text_rules(shared, &caller, &target, view, &uri, addr));
        let relay = Relay {
            shared: Arc::clone(shared),
            ev,
            started,
            texts,
            totals: None,
            permit: Some(conn.permit()),
        };
        return crate::l7::answer_upgrade(relay, client_upgrade, response);
    }

    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    if let Some(http) = &mut ev.http {
        http.status = Some(parts.status.as_u16());
    }
    let down = Arc::new(AtomicU64::new(0));
    let on_end = audit_at_end(
        shared.audit.clone(),
        ev,
        started,
        (up, Arc::clone(&down)),
        tripped,
    );
    let body = CountingBody::new(body, down, Some(on_end)).boxed_unsync();
    Response::from_parts(parts, body)
}

/// How text messages on a forwarded WebSocket are decided: `WEBSOCKET_TEXT` on the
/// upgrade URL's canonical path (as its `GET` was) and query.
fn text_rules(
    shared: &Arc<Shared>,
    caller: &Arc<Caller>,
    target: &Target,
    view: View,
    uri: &Uri,
    addr: SocketAddr,
) -> TextRules {
    let ep = view.generation.compiled.endpoint(view.endpoint);
    let path = crate::l7::path::canonical_path(uri.path(), ep.allow_encoded_slash)
        .map_or_else(|_| uri.path().to_owned(), |path| path.into_owned());
    let (shared, caller, target) = (Arc::clone(shared), Arc::clone(caller), target.clone());
    let (generation, event_path) = (view.generation.number, path.clone());
    TextRules {
        view,
        path,
        query: uri.query().map(str::to_owned),
        event: Box::new(move |action, status| {
            let http = HttpInfo::new("WEBSOCKET_TEXT", &event_path, status);
            let mut ev = request_event(&shared, &caller, &target, generation, action, &http);
            ev.ip = Some(addr.ip());
            ev
        }),
    }
}

/// A request refused for a credential placeholder: audited and answered.
fn refuse_credentials(
    shared: &Shared,
    caller: &Caller,
    target: &Target,
    go: &decide::Go,
    http: &HttpInfo,
    refused: &crate::credentials::Refused,
) -> Response<ProxyBody> {
    let mut http = http.clone();
    http.status = Some(refused.status().as_u16());
    let mut ev = request_event(
        shared,
        caller,
        target,
        go.generation.number,
        Action::Deny,
        &http,
    )
    .with_reason(refused.reason());
    ev.entry = go.entry.clone();
    ev.severity = ev.severity.max(cordon_audit::Severity::Medium);
    shared.audit.emit(ev.into_event());
    refused.response(&target.host, target.port, caller.binary.as_deref())
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn request_event(
    shared: &Shared,
    caller: &Caller,
    target: &Target,
    generation: u64,
    action: Action,
    http: &HttpInfo,
) -> NetworkEvent {
    let mut ev = decide::event(
        shared,
        caller,
        target,
        generation,
        action,
        Transport::Forward,
    );
    ev.http = Some(http.clone());
    ev
}

/// The audit line of an allowed request, written once its response body ended.
fn audit_at_end(
    audit: AuditSink,
    mut ev: NetworkEvent,
    started: Instant,
    (up, down): (Arc<AtomicU64>, Arc<AtomicU64>),
    tripped: Arc<std::sync::atomic::AtomicBool>,
) -> crate::body::OnEnd {
    Box::new(move || {
        crate::credentials::mark_if_tripped(&mut ev, &tripped);
        ev.time_ms = cordon_audit::now_ms();
        ev.duration_ms = Some(elapsed_ms(started));
        ev.bytes_up = up.load(Ordering::Relaxed);
        ev.bytes_down = down.load(Ordering::Relaxed);
        audit.emit(ev.into_event());
    })
}

/// A ready connection to `target` at one of `addrs`: the kept one when it matches,
/// otherwise a new one.
async fn upstream(
    conn: &ConnState,
    addrs: &[SocketAddr],
    target: &Target,
    shared: &Shared,
) -> Result<(SendRequest<UpBody>, SocketAddr), crate::dial::DialFailure> {
    if let Some(mut kept) = conn.take_upstream().await
        && kept.target == *target
        && addrs.contains(&kept.addr)
        && !kept.sender.is_closed()
        && matches!(
            tokio::time::timeout(REUSE_WAIT, kept.sender.ready()).await,
            Ok(Ok(()))
        )
    {
        return Ok((kept.sender, kept.addr));
    }
    let (stream, addr) = dial(addrs, shared.limits.connect_timeout).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| crate::dial::DialFailure {
            status: StatusCode::BAD_GATEWAY,
            code: "upstream_failed",
            reason: format!("HTTP handshake with {addr} failed: {err}"),
            ip: Some(addr.ip()),
        })?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    Ok((sender, addr))
}

impl Upstream {
    pub(crate) fn new(addr: SocketAddr, target: Target, sender: SendRequest<UpBody>) -> Upstream {
        Upstream {
            addr,
            target,
            sender,
        }
    }
}

/// Turns the client's absolute-form request into the origin-form request the
/// destination expects (the upgrade headers kept for a WebSocket upgrade).
fn rewrite_request(
    req: Request<OutBody>,
    target: &Target,
    up: Arc<AtomicU64>,
    websocket: bool,
) -> Result<Request<UpBody>, String> {
    let (mut parts, body) = req.into_parts();
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or("the URL has no host")?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = path
        .parse::<Uri>()
        .map_err(|err| format!("bad request path: {err}"))?;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers, websocket);
    // RFC 9112 §3.2.2: a proxy replaces Host with the target URI's authority.
    let host = HeaderValue::from_str(&authority)
        .or_else(|_| HeaderValue::from_str(&format!("{}:{}", target.host, target.port)))
        .map_err(|_| "bad host".to_owned())?;
    parts.headers.insert(header::HOST, host);
    Ok(Request::from_parts(
        parts,
        CountingBody::new(body, up, None),
    ))
}

#[cfg(test)]
mod tests {
    use http::header::HeaderMap;

    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert(
            header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9v"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut headers, false);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(header::ACCEPT));
    }
}
