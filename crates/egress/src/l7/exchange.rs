//! One request on an inspected connection: checked, decided, forwarded, audited.
//!
//! Order: a refusal from the framing guard; the request head against the
//! connection's destination; the destination against the current policy generation;
//! the path's canonical form; then the rules (`decide_request`). Allowed requests go
//! upstream with the path exactly as judged; the response streams back, and the
//! audit line is written when its body ends (with status and byte counts). A failing
//! upstream becomes a `502` with an audit line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cordon_audit::Action;
use cordon_policy::Verdict;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::deny;
use super::gate::REFUSAL_HEADER;
use super::head::{ConnTarget, check_head, is_websocket_upgrade};
use super::origin::UpBody;
use super::path::canonical_path;
use super::session::{Session, close_after, rule_reason};
use super::upgrade;
use crate::body::CountingBody;
use crate::credentials::{self, OutBody};
use crate::limits::UPSTREAM_RESPONSE_TIMEOUT;
use crate::respond::{self, ProxyBody};

/// What passed the checks: the request as it will be forwarded.
pub(crate) struct Checked {
    pub view: super::session::View,
    pub method: String,
    /// Canonical path (what was matched and is forwarded).
    pub path: String,
    pub query: Option<String>,
    pub action: Action,
    pub reason: Option<String>,
}

/// Handles one request.
pub(crate) async fn handle(session: &Arc<Session>, req: Request<Incoming>) -> Response<ProxyBody> {
    let started = Instant::now();
    session.count_request();
    let checked = match check(session, &req) {
        Ok(checked) => checked,
        Err(response) => return drain(req.into_body(), *response).await,
    };
    let websocket = is_websocket_upgrade(req.method(), req.headers());
    let had_upgrade = req.headers().contains_key(header::UPGRADE);
    let binding = credentials::binding(&checked.view.generation, Some(checked.view.endpoint));
    let mut prepared =
        match credentials::prepare(&session.shared.credentials, req, binding.as_ref()).await {
            Ok(prepared) => prepared,
            Err(refused) => return refuse_credentials(session, &checked, &refused),
        };
    let mut checked = checked;
    checked.reason = join_reason(checked.reason.take(), prepared.note.take());
    if websocket {
        return upgrade::handle(session, prepared.request, checked, started).await;
    }
    let response = forward(session, prepared, &checked, started).await;
    if had_upgrade {
        // The guard let raw bytes through after an upgrade request; without a 101
        // the connection must not carry further requests.
        close_after(response)
    } else {
        response
    }
}

/// Largest request body read and discarded after a refusal, so the connection can
/// carry the client's next request. Above it (or past [`DRAIN_TIMEOUT`]) the
/// connection is closed after the response instead; a refused upload is not worth
/// receiving.
const MAX_DRAIN_BYTES: usize = 64 * 1024;
/// How long draining a refused request's body may take.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Discards the body of a refused request, then returns `response` (marked as the
/// last on the connection when the body could not be drained).
async fn drain(body: Incoming, response: Response<ProxyBody>) -> Response<ProxyBody> {
    use hyper::body::Body;
    if body.is_end_stream() {
        return response;
    }
    let limited = http_body_util::Limited::new(body, MAX_DRAIN_BYTES);
    match tokio::time::timeout(DRAIN_TIMEOUT, limited.collect()).await {
        Ok(Ok(_)) => response,
        _ => close_after(response),
    }
}

/// Every check before the request may leave; `Err` is the response to send.
fn check(session: &Session, req: &Request<Incoming>) -> Result<Checked, Box<Response<ProxyBody>>> {
    let method = req.method().as_str().to_owned();
    let marker = req.headers().get(REFUSAL_HEADER).map(HeaderValue::as_bytes);
    let generation = session.shared.policy.number();
    if let Some(refusal) = session.gate.take_refusal(marker) {
        return Err(Box::new(session.refuse(
            generation,
            None,
            "-",
            "-",
            refusal.status,
            "bad_request",
            refusal.reason,
        )));
    }
    let raw_path = req.uri().path();
    let target = ConnTarget {
        host: &session.target.host,
        port: session.target.port,
        tls: session.tls,
    };
    if let Err(refusal) = check_head(req.uri(), req.headers(), &target) {
        return Err(Box::new(session.refuse(
            generation,
            None,
            &method,
            raw_path,
            StatusCode::BAD_REQUEST,
            "bad_request",
            &refusal.to_string(),
        )));
    }
    let view = match session.view() {
        Ok(view) => view,
        Err(why) => {
            return Err(Box::new(session.refuse(
                generation,
                None,
                &method,
                raw_path,
                StatusCode::FORBIDDEN,
                "policy_denied",
                &why,
            )));
        }
    };
    let compiled = &view.generation.compiled;
    let endpoint = compiled.endpoint(view.endpoint);
    let path = match canonical_path(raw_path, endpoint.allow_encoded_slash) {
        Ok(path) => path.into_owned(),
        Err(refusal) => {
            let hint = deny::path_hint(compiled, view.endpoint, refusal);
            let response =
                session.deny(&view, &method, raw_path, None, &refusal.to_string(), &hint);
            return Err(Box::new(close_after(response)));
        }
    };
    let query = req.uri().query().map(str::to_owned);
    let d = compiled.decide_request(view.endpoint, &method, &path, query.as_deref());
    let (action, reason) = match d.verdict {
        Verdict::Allow => (
            Action::Allow,
            d.rule.map(|rule| format!("{} ({rule})", d.reason)),
        ),
        Verdict::AuditDeny => (Action::AuditDeny, Some(rule_reason(d.rule, d.reason))),
        Verdict::Deny => {
            let hint = deny::hint(compiled, d.endpoint, &method, &path, d.rule);
            let mut response = session.deny(&view, &method, &path, d.rule, d.reason, &hint);
            if req.headers().contains_key(header::UPGRADE) {
                response = close_after(response);
            }
            return Err(Box::new(response));
        }
    };
    Ok(Checked {
        view,
        method,
        path,
        query,
        action,
        reason,
    })
}

/// A request refused for a credential placeholder (or its body): audited, answered,
/// and the connection closed after the answer (its body may be unread).
fn refuse_credentials(
    session: &Session,
    checked: &Checked,
    refused: &credentials::Refused,
) -> Response<ProxyBody> {
    let status = refused.status();
    let mut ev = session
        .event(
            checked.view.generation.number,
            Action::Deny,
            &checked.method,
            &checked.path,
            Some(status.as_u16()),
        )
        .with_reason(refused.reason());
    ev.entry = checked.view.entry.clone();
    ev.severity = ev.severity.max(cordon_audit::Severity::Medium);
    session.shared.audit.emit(ev.into_event());
    close_after(refused.response(
        &session.target.host,
        session.target.port,
        session.caller.binary.as_deref(),
    ))
}

/// `reason; note` (either may be absent).
pub(crate) fn join_reason(reason: Option<String>, note: Option<String>) -> Option<String> {
    match (reason, note) {
        (Some(reason), Some(note)) => Some(format!("{reason}; {note}")),
        (reason, note) => reason.or(note),
    }
}

/// Sends an allowed request upstream and streams the response back.
async fn forward(
    session: &Arc<Session>,
    prepared: credentials::Prepared,
    checked: &Checked,
    started: Instant,
) -> Response<ProxyBody> {
    let credentials::Prepared {
        request: req,
        tripped,
        ..
    } = prepared;
    let up = Arc::new(AtomicU64::new(0));
    let upstream_req = match to_upstream(req, checked, Arc::clone(&up), false) {
        Ok(req) => req,
        Err(why) => {
            return session.refuse(
                checked.view.generation.number,
                checked.view.entry.clone(),
                &checked.method,
                &checked.path,
                StatusCode::BAD_REQUEST,
                "bad_request",
                &why,
            );
        }
    };
    let mut ev = session.event(
        checked.view.generation.number,
        checked.action,
        &checked.method,
        &checked.path,
        None,
    );
    ev.entry = checked.view.entry.clone();
    ev.reason = checked.reason.clone();

    let sent = {
        let mut origin = session.origin.lock().await;
        let sender = match origin.ready().await {
            Ok(sender) => sender,
            Err(failure) => {
                ev.ip = failure.ip.or(ev.ip);
                ev.duration_ms = Some(elapsed_ms(started));
                if let Some(http) = &mut ev.http {
                    http.status = Some(failure.status.as_u16());
                }
                session
                    .shared
                    .audit
                    .emit(ev.with_reason(&failure.reason).into_event());
                return respond::error(failure.status, failure.code, &failure.reason);
            }
        };
        let sent =
            tokio::time::timeout(UPSTREAM_RESPONSE_TIMEOUT, sender.send_request(upstream_req))
                .await;
        if let Some(addr) = origin.addr() {
            ev.ip = Some(addr.ip());
        }
        sent
    };
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(_)) if tripped.load(Ordering::SeqCst) => {
            return refuse_credentials(session, checked, &credentials::Refused::GuardedBody);
        }
        Ok(Err(err)) => {
            return upstream_failed(
                session,
                ev,
                started,
                StatusCode::BAD_GATEWAY,
                "upstream_failed",
                &format!("upstream protocol error: {err}"),
            );
        }
        Err(_) => {
            return upstream_failed(
                session,
                ev,
                started,
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "upstream sent no response head in time",
            );
        }
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    if let Some(http) = &mut ev.http {
        http.status = Some(parts.status.as_u16());
    }
    let down = Arc::new(AtomicU64::new(0));
    let totals = (Arc::clone(&session.up), Arc::clone(&session.down));
    let audit = session.shared.audit.clone();
    let (up_count, down_count) = (up, Arc::clone(&down));
    let on_end: crate::body::OnEnd = Box::new(move || {
        credentials::mark_if_tripped(&mut ev, &tripped);
        ev.time_ms = cordon_audit::now_ms();
        ev.duration_ms = Some(elapsed_ms(started));
        ev.bytes_up = up_count.load(Ordering::Relaxed);
        ev.bytes_down = down_count.load(Ordering::Relaxed);
        totals.0.fetch_add(ev.bytes_up, Ordering::Relaxed);
        totals.1.fetch_add(ev.bytes_down, Ordering::Relaxed);
        audit.emit(ev.into_event());
    });
    let body = CountingBody::new(body, down, Some(on_end)).boxed_unsync();
    Response::from_parts(parts, body)
}

fn upstream_failed(
    session: &Session,
    mut ev: cordon_audit::NetworkEvent,
    started: Instant,
    status: StatusCode,
    code: &str,
    why: &str,
) -> Response<ProxyBody> {
    ev.duration_ms = Some(elapsed_ms(started));
    if let Some(http) = &mut ev.http {
        http.status = Some(status.as_u16());
    }
    session.shared.audit.emit(ev.with_reason(why).into_event());
    close_after(respond::error(status, code, why))
}

/// The request as the upstream gets it: origin-form with the canonical path and the
/// original query, HTTP/1.1, hop-by-hop headers removed (the upgrade headers kept
/// for a WebSocket upgrade), Host as the client sent it (already checked).
pub(crate) fn to_upstream(
    req: Request<OutBody>,
    checked: &Checked,
    up: Arc<AtomicU64>,
    websocket: bool,
) -> Result<Request<UpBody>, String> {
    let (mut parts, body) = req.into_parts();
    let target = match &checked.query {
        Some(query) => format!("{}?{query}", checked.path),
        None => checked.path.clone(),
    };
    parts.uri = target
        .parse::<Uri>()
        .map_err(|err| format!("bad request path: {err}"))?;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers, websocket);
    Ok(Request::from_parts(
        parts,
        CountingBody::new(body, up, None),
    ))
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1) and those `Connection` names; for a
/// WebSocket upgrade keeps `Connection: Upgrade` and `Upgrade`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, websocket: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| !(websocket && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("proxy-connection"),
        HeaderName::from_static("keep-alive"),
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    if websocket {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
}

pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
