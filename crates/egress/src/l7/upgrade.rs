//! A WebSocket upgrade, wherever it arrives: on an inspected connection (CONNECT
//! tunnel or transparent capture, [`handle`]) or as an absolute-form request to the
//! proxy (`GET http://host/path`, `crate::forward`). The upgrade request itself was
//! decided like any request (a `GET` on its path); it is forwarded with `Upgrade` and
//! `Connection: Upgrade` kept, and when the server answers `101` both connections are
//! taken over from hyper and relayed by [`answer`], the one relay both paths share.
//!
//! With `protocol: websocket`, every client text message is decided as a
//! `WEBSOCKET_TEXT` request on the upgrade's path and query (see [`super`]), and
//! `Sec-WebSocket-Extensions` is removed from the upgrade request so no compression
//! hides message text. Otherwise frames are relayed unparsed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cordon_audit::{Action, NetworkEvent};
use cordon_policy::{Protocol, Verdict};
use http::header::{HeaderMap, HeaderName};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::OwnedSemaphorePermit;

use super::exchange::{Checked, elapsed_ms, strip_hop_by_hop, to_upstream};
use super::session::{Session, View, close_after, rule_reason};
use super::ws_relay::{TextDecision, WsEnd, relay_inspected};
use crate::limits::UPSTREAM_RESPONSE_TIMEOUT;
use crate::respond::{self, ProxyBody};
use crate::server::Shared;

const SEC_WEBSOCKET_EXTENSIONS: HeaderName = HeaderName::from_static("sec-websocket-extensions");

/// How one upgraded connection is relayed and audited, whichever path forwarded the
/// upgrade request.
pub(crate) struct Relay {
    pub shared: Arc<Shared>,
    /// The upgrade request's audit line, written when the relay ends (or at once
    /// when the server refuses the upgrade).
    pub ev: NetworkEvent,
    pub started: Instant,
    /// `protocol: websocket`: how client text messages are decided. `None`: frames
    /// are relayed unparsed.
    pub texts: Option<TextRules>,
    /// Byte totals of the enclosing inspected connection, for its closing line.
    pub totals: Option<(Arc<AtomicU64>, Arc<AtomicU64>)>,
    /// The client connection's slot under the connection limit: hyper lets go of
    /// the connection at the upgrade, the relay keeps the slot until it ends.
    pub permit: Option<Arc<OwnedSemaphorePermit>>,
}

/// What a client text message is decided with: `WEBSOCKET_TEXT` on the upgrade's
/// canonical path and query, in the generation that allowed the upgrade.
pub(crate) struct TextRules {
    pub view: View,
    pub path: String,
    pub query: Option<String>,
    /// A fresh audit event for one refused (or would-be refused) message, with
    /// method `WEBSOCKET_TEXT`, the upgrade's path and the given action and status.
    pub event: Box<dyn Fn(Action, Option<u16>) -> NetworkEvent + Send + Sync>,
}

/// Whether client text messages on `view`'s endpoint are decided one by one.
pub(crate) fn inspects_text(view: &View) -> bool {
    view.generation.compiled.endpoint(view.endpoint).protocol == Some(Protocol::Websocket)
}

/// Withdraws the client's offer of WebSocket extensions from the upgrade request
/// when text messages are inspected: a compressed message could not be read.
pub(crate) fn restrict_offer(headers: &mut HeaderMap, inspect_text: bool) {
    if inspect_text {
        headers.remove(SEC_WEBSOCKET_EXTENSIONS);
    }
}

/// Forwards an allowed upgrade request on an inspected connection; on `101`,
/// relays the two connections.
pub(crate) async fn handle(
    session: &Arc<Session>,
    mut req: Request<crate::credentials::OutBody>,
    checked: Checked,
    started: Instant,
) -> Response<ProxyBody> {
    let inspect_text = inspects_text(&checked.view);
    let client_upgrade = hyper::upgrade::on(&mut req);
    let up = Arc::new(AtomicU64::new(0));
    let mut upstream_req = match to_upstream(req, &checked, up, true) {
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
    restrict_offer(upstream_req.headers_mut(), inspect_text);
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
        match origin.ready().await {
            Ok(sender) => {
                let sent = tokio::time::timeout(
                    UPSTREAM_RESPONSE_TIMEOUT,
                    sender.send_request(upstream_req),
                )
                .await;
                if let Some(addr) = origin.addr() {
                    ev.ip = Some(addr.ip());
                }
                sent.map_err(|_| {
                    (
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        "upstream sent no response head in time".to_owned(),
                    )
                })
                .and_then(|r| {
                    r.map_err(|err| {
                        (
                            StatusCode::BAD_GATEWAY,
                            "upstream_failed",
                            format!("upstream protocol error: {err}"),
                        )
                    })
                })
            }
            Err(failure) => Err((failure.status, failure.code, failure.reason)),
        }
    };
    let response = match sent {
        Ok(response) => response,
        Err((status, code, why)) => {
            ev.duration_ms = Some(elapsed_ms(started));
            if let Some(http) = &mut ev.http {
                http.status = Some(status.as_u16());
            }
            session.shared.audit.emit(ev.with_reason(&why).into_event());
            return close_after(respond::error(status, code, &why));
        }
    };
    let texts = inspect_text.then(|| {
        let events = Arc::clone(session);
        let (generation, path) = (checked.view.generation.number, checked.path.clone());
        TextRules {
            view: checked.view,
            path: checked.path,
            query: checked.query,
            event: Box::new(move |action, status| {
                events.event(generation, action, "WEBSOCKET_TEXT", &path, status)
            }),
        }
    });
    let relay = Relay {
        shared: Arc::clone(&session.shared),
        ev,
        started,
        texts,
        totals: Some((Arc::clone(&session.up), Arc::clone(&session.down))),
        permit: None,
    };
    answer(relay, client_upgrade, response)
}

/// The upstream's answer to a forwarded upgrade request. Anything but `101` is
/// passed on and ends the client connection (see gate); a `101` goes back with
/// `Upgrade` and `Connection: Upgrade`, and a task relays the two upgraded
/// connections, deciding client text messages when `relay.texts` says so, and
/// writes the upgrade's audit line when the relay ends.
pub(crate) fn answer(
    relay: Relay,
    client_upgrade: OnUpgrade,
    mut response: Response<Incoming>,
) -> Response<ProxyBody> {
    let Relay {
        shared,
        mut ev,
        started,
        texts,
        totals,
        permit,
    } = relay;
    if let Some(http) = &mut ev.http {
        http.status = Some(response.status().as_u16());
    }
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        ev.duration_ms = Some(elapsed_ms(started));
        shared.audit.emit(ev.into_event());
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        return close_after(Response::from_parts(parts, body.boxed_unsync()));
    }
    if texts.is_some() && response.headers().contains_key(SEC_WEBSOCKET_EXTENSIONS) {
        let why = "the upstream accepted a WebSocket extension that was not offered";
        shared.audit.emit(ev.with_reason(why).into_event());
        return close_after(respond::error(
            StatusCode::BAD_GATEWAY,
            "upstream_failed",
            why,
        ));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    let (mut parts, _) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, true);

    tokio::spawn(async move {
        let _permit = permit;
        let (client, upstream) = match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok(both) => both,
            Err(err) => {
                ev.duration_ms = Some(elapsed_ms(started));
                let why = format!("WebSocket upgrade did not complete: {err}");
                shared.audit.emit(ev.with_reason(why).into_event());
                return;
            }
        };
        let (client, upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        let (reason, up, down) = if let Some(texts) = &texts {
            let (end, stats) =
                relay_inspected(client, upstream, |text| decide_text(&shared, texts, text)).await;
            let reason = match end {
                WsEnd::Closed => format!("WebSocket closed after {} text messages", stats.texts),
                WsEnd::Denied(why) => format!("WebSocket closed with 1008: {why}"),
                WsEnd::Violation(v) => format!("WebSocket closed: client broke the protocol: {v}"),
                WsEnd::Failed(err) => format!("WebSocket ended with an error: {err}"),
            };
            (reason, stats.up, stats.down)
        } else {
            let (mut client, mut upstream) = (client, upstream);
            match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                Ok((up, down)) => (
                    "WebSocket closed (frames relayed uninspected)".to_owned(),
                    up,
                    down,
                ),
                Err(err) => (format!("WebSocket ended with an error: {err}"), 0, 0),
            }
        };
        if let Some((total_up, total_down)) = &totals {
            total_up.fetch_add(up, Ordering::Relaxed);
            total_down.fetch_add(down, Ordering::Relaxed);
        }
        ev.time_ms = cordon_audit::now_ms();
        ev.duration_ms = Some(elapsed_ms(started));
        ev.bytes_up = up;
        ev.bytes_down = down;
        let reason = match ev.reason.take() {
            Some(decision) => format!("{decision}; {reason}"),
            None => reason,
        };
        shared.audit.emit(ev.with_reason(reason).into_event());
    });
    Response::from_parts(parts, respond::empty())
}

/// Decides one client text message as `WEBSOCKET_TEXT` on the upgrade's path and
/// query; denials and would-be denials are audited one line each.
fn decide_text(shared: &Shared, texts: &TextRules, _text: &str) -> TextDecision {
    let view = &texts.view;
    let d = view.generation.compiled.decide_request(
        view.endpoint,
        "WEBSOCKET_TEXT",
        &texts.path,
        texts.query.as_deref(),
    );
    let action = match d.verdict {
        Verdict::Allow => return TextDecision::Allow,
        Verdict::AuditDeny => Action::AuditDeny,
        Verdict::Deny => Action::Deny,
    };
    let status = if action == Action::Deny {
        Some(1008)
    } else {
        None
    };
    let mut ev = (texts.event)(action, status).with_reason(rule_reason(d.rule, d.reason));
    ev.entry = view.entry.clone();
    shared.audit.emit(ev.into_event());
    if action == Action::Deny {
        TextDecision::Deny("cordon: message denied by policy".into())
    } else {
        TextDecision::Allow
    }
}
