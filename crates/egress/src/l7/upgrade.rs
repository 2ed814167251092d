//! A WebSocket upgrade on an inspected connection. The upgrade request itself was
//! decided like any request (a `GET` on its path); here it is forwarded, and when the
//! server answers `101` both connections are taken over from hyper and relayed.
//!
//! With `protocol: websocket`, every client text message is decided as a
//! `WEBSOCKET_TEXT` request on the upgrade's path and query (see [`super`]), and
//! `Sec-WebSocket-Extensions` is removed from the upgrade request so no compression
//! hides message text. With `protocol: rest`, frames are relayed unparsed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cordon_audit::Action;
use cordon_policy::{Protocol, Verdict};
use http::header::HeaderName;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use super::exchange::{Checked, elapsed_ms, strip_hop_by_hop, to_upstream};
use super::session::{Session, close_after, rule_reason};
use super::ws_relay::{TextDecision, WsEnd, relay_inspected};
use crate::limits::UPSTREAM_RESPONSE_TIMEOUT;
use crate::respond::{self, ProxyBody};

const SEC_WEBSOCKET_EXTENSIONS: HeaderName = HeaderName::from_static("sec-websocket-extensions");

/// Forwards an allowed upgrade request; on `101`, relays the two connections.
pub(crate) async fn handle(
    session: &Arc<Session>,
    mut req: Request<crate::credentials::OutBody>,
    checked: Checked,
    started: Instant,
) -> Response<ProxyBody> {
    let compiled = &checked.view.generation.compiled;
    let inspect_text =
        compiled.endpoint(checked.view.endpoint).protocol == Some(Protocol::Websocket);
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
    if inspect_text {
        upstream_req.headers_mut().remove(SEC_WEBSOCKET_EXTENSIONS);
    }
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
    let mut response = match sent {
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
    if let Some(http) = &mut ev.http {
        http.status = Some(response.status().as_u16());
    }
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // Refused upstream: pass the answer on, then end the connection (see gate).
        ev.duration_ms = Some(elapsed_ms(started));
        session.shared.audit.emit(ev.into_event());
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        return close_after(Response::from_parts(parts, body.boxed_unsync()));
    }
    if inspect_text && response.headers().contains_key(SEC_WEBSOCKET_EXTENSIONS) {
        let why = "the upstream accepted a WebSocket extension that was not offered";
        session.shared.audit.emit(ev.with_reason(why).into_event());
        return close_after(respond::error(
            StatusCode::BAD_GATEWAY,
            "upstream_failed",
            why,
        ));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    let (mut parts, _) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, true);

    let session = Arc::clone(session);
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok(both) => both,
            Err(err) => {
                ev.duration_ms = Some(elapsed_ms(started));
                let why = format!("WebSocket upgrade did not complete: {err}");
                session.shared.audit.emit(ev.with_reason(why).into_event());
                return;
            }
        };
        let (client, upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        let (reason, up, down) = if inspect_text {
            let (end, stats) = relay_inspected(client, upstream, |text| {
                decide_text(&session, &checked, text)
            })
            .await;
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
                    "WebSocket closed (frames relayed uninspected: protocol rest)".to_owned(),
                    up,
                    down,
                ),
                Err(err) => (format!("WebSocket ended with an error: {err}"), 0, 0),
            }
        };
        session.up.fetch_add(up, Ordering::Relaxed);
        session.down.fetch_add(down, Ordering::Relaxed);
        ev.time_ms = cordon_audit::now_ms();
        ev.duration_ms = Some(elapsed_ms(started));
        ev.bytes_up = up;
        ev.bytes_down = down;
        let reason = match ev.reason.take() {
            Some(decision) => format!("{decision}; {reason}"),
            None => reason,
        };
        session
            .shared
            .audit
            .emit(ev.with_reason(reason).into_event());
    });
    Response::from_parts(parts, respond::empty())
}

/// Decides one client text message as `WEBSOCKET_TEXT` on the upgrade's path and
/// query; denials and would-be denials are audited one line each.
fn decide_text(session: &Session, checked: &Checked, _text: &str) -> TextDecision {
    let view = &checked.view;
    let d = view.generation.compiled.decide_request(
        view.endpoint,
        "WEBSOCKET_TEXT",
        &checked.path,
        checked.query.as_deref(),
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
    let mut ev = session
        .event(
            view.generation.number,
            action,
            "WEBSOCKET_TEXT",
            &checked.path,
            status,
        )
        .with_reason(rule_reason(d.rule, d.reason));
    ev.entry = view.entry.clone();
    session.shared.audit.emit(ev.into_event());
    if action == Action::Deny {
        TextDecision::Deny("cordon: message denied by policy".into())
    } else {
        TextDecision::Allow
    }
}
