//! `CONNECT host:port` tunnels: decide, dial the validated address, answer `200`, then
//! relay bytes until either side closes, the tunnel idles out, outlives its maximum
//! lifetime, the proxy shuts down, or a reload revokes the destination. One audit line
//! per tunnel: at decision when refused, at the end (with bytes and duration) when
//! allowed.

use std::net::SocketAddr;
use std::sync::Arc;

use cordon_audit::{Action, Transport};
use cordon_policy::{Enforcement, Verdict};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::caller::Caller;
use crate::decide::{self, Go, Outcome, Target};
use crate::dial::dial;
use crate::generation::Generation;
use crate::relay::{self, Traffic};
use crate::respond::{self, Denial, ProxyBody};
use crate::server::{ConnState, Shared};

/// Handles one CONNECT request on a client connection.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some(target) = req
        .uri()
        .authority()
        .and_then(|a| Target::parse(a.as_str(), None))
    else {
        return respond::error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "CONNECT needs a host:port target",
        );
    };
    // Subscribe before deciding: a reload between the decision and the relay's start
    // must still reach this tunnel.
    let changes = shared.policy.subscribe();
    let caller = conn.caller(shared).await;
    let go = match decide::decide(shared, &caller, &target).await {
        Outcome::Refused(refused) => {
            return refuse(shared, &caller, &target, refused);
        }
        Outcome::Go(go) => go,
    };
    if let Some(response) = refuse_uninspectable(shared, &caller, &target, &go) {
        return response;
    }
    let upstream = match dial(&go.addrs, shared.limits.connect_timeout).await {
        Ok(upstream) => upstream,
        Err(failure) => {
            let mut ev = decide::event(
                shared,
                &caller,
                &target,
                go.generation.number,
                decide::pass_action(go.verdict),
                Transport::Tunnel,
            )
            .with_reason(&failure.reason);
            ev.entry = go.entry.clone();
            ev.ip = failure.ip;
            ev.duration_ms = Some(0);
            shared.audit.emit(ev.into_event());
            return respond::error(failure.status, failure.code, &failure.reason);
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shared = Arc::clone(shared);
    let permit = conn.permit();
    tokio::spawn(async move {
        let _permit = permit;
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else {
            return;
        };
        let client = parts.io.into_inner();
        if let Some(inspection) = inspects(&shared, &go) {
            let prefix = parts.read_buf;
            crate::l7::run(
                shared, inspection, caller, target, go, client, prefix, upstream,
            )
            .await;
            return;
        }
        // Bytes the client sent after its CONNECT head (usually none). Copied out so
        // hyper's read buffer (8 KiB or more) is not kept alive for the tunnel's life.
        let prefix = parts.read_buf.to_vec();
        drop(parts.read_buf);
        run_tunnel(
            &shared, caller, target, go, client, &prefix, upstream, changes,
        )
        .await;
    });
    Response::new(respond::empty())
}

fn refuse(
    shared: &Shared,
    caller: &Caller,
    target: &Target,
    refused: decide::Refused,
) -> Response<ProxyBody> {
    let mut ev = decide::event(
        shared,
        caller,
        target,
        refused.generation,
        Action::Deny,
        Transport::Tunnel,
    )
    .with_reason(&refused.reason);
    ev.entry = refused.entry.clone();
    ev.severity = refused.severity.max(ev.severity);
    shared.audit.emit(ev.into_event());
    if refused.status == StatusCode::FORBIDDEN {
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
    }
}

/// Endpoints with `protocol: rest|websocket` have request rules that only TLS
/// termination can apply (the TLS/L7 layer). Until a tunnel can be inspected, an
/// enforcing endpoint whose rules restrict anything is refused rather than tunnelled
/// past its rules; an audit-mode endpoint passes (nothing would be blocked) with a
/// reason saying it was not inspected.
fn refuse_uninspectable(
    shared: &Shared,
    caller: &Caller,
    target: &Target,
    go: &Go,
) -> Option<Response<ProxyBody>> {
    let id = go.endpoint?;
    let endpoint = go.generation.compiled.endpoint(id);
    if !endpoint.inspect
        || shared.inspection.is_some()
        || endpoint.enforcement == Enforcement::Audit
        || allows_everything(&go.generation, id)
    {
        return None;
    }
    Some(refuse(
        shared,
        caller,
        target,
        decide::Refused {
            generation: go.generation.number,
            status: StatusCode::FORBIDDEN,
            error: "policy_denied",
            entry: go.entry.clone(),
            reason: "the endpoint has request rules (protocol: rest/websocket) and this tunnel cannot be inspected".into(),
            hint: "use `access: full` for the endpoint, `enforcement: audit`, or plain http:// through the proxy (forwarded requests are checked against the rules)".into(),
            severity: cordon_audit::Severity::Medium,
        },
    ))
}

/// The inspection config when this tunnel's endpoint is inspected (`protocol:
/// rest|websocket`, not `tls: skip`) and the proxy has a sandbox CA.
pub(crate) fn inspects(shared: &Shared, go: &Go) -> Option<crate::l7::Inspection> {
    let id = go.endpoint?;
    if !go.generation.compiled.endpoint(id).inspect {
        return None;
    }
    shared.inspection.clone()
}

/// `access: full` with no `rules` and no `deny_rules`: request checks could not refuse
/// anything, so tunnelling is equivalent.
pub(crate) fn allows_everything(generation: &Generation, id: cordon_policy::EndpointId) -> bool {
    let compiled = generation.compiled.endpoint(id);
    generation
        .compiled
        .policy()
        .network_policies
        .get(&compiled.entry)
        .and_then(|entry| entry.endpoints.get(compiled.index))
        .is_some_and(|ep| {
            ep.access == Some(cordon_policy::Access::Full)
                && ep.rules.is_empty()
                && ep.deny_rules.is_empty()
        })
}

/// Why a tunnel ended early (for the audit reason).
enum Ended {
    Closed,
    Failed(std::io::Error),
    Idle,
    Lifetime,
    Revoked(u64),
    Shutdown,
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_tunnel(
    shared: &Arc<Shared>,
    caller: Arc<Caller>,
    target: Target,
    go: Go,
    client: TcpStream,
    prefix: &[u8],
    (upstream, ip): (TcpStream, SocketAddr),
    mut changes: watch::Receiver<u64>,
) {
    let traffic = Traffic::new();
    let mut shutdown = shared.shutdown.clone();
    let idle_limit =
        u64::try_from(shared.limits.tunnel_idle_timeout.as_millis()).unwrap_or(u64::MAX);
    let lifetime = shared.limits.tunnel_max_lifetime;
    let check_every = crate::limits::TUNNEL_IDLE_CHECK.min(shared.limits.tunnel_idle_timeout);

    let revoked = async {
        loop {
            if changes.changed().await.is_err() {
                return std::future::pending::<u64>().await;
            }
            let generation = shared.policy.current();
            if !decide::still_allowed(shared, &generation, &caller, &target, ip.ip()) {
                return generation.number;
            }
        }
    };
    let idle = async {
        loop {
            tokio::time::sleep(check_every).await;
            if traffic.idle_ms() >= idle_limit {
                return;
            }
        }
    };
    let ended = tokio::select! {
        result = relay::relay(&client, prefix, &upstream, shared.relay_mode, &traffic) => match result {
            Ok(()) => Ended::Closed,
            Err(err) => Ended::Failed(err),
        },
        number = revoked => Ended::Revoked(number),
        () = idle => Ended::Idle,
        () = tokio::time::sleep(lifetime) => Ended::Lifetime,
        () = crate::server::stopped(&mut shutdown) => Ended::Shutdown,
    };
    relay::close_both(&client);
    relay::close_both(&upstream);

    let reason = match &ended {
        Ended::Closed => go.reason.clone(),
        Ended::Failed(err) => Some(format!("tunnel ended with an error: {err}")),
        Ended::Idle => Some("closed: idle timeout".into()),
        Ended::Lifetime => Some("closed: tunnel lifetime limit".into()),
        Ended::Revoked(number) => Some(format!(
            "closed: policy generation {number} no longer allows this destination"
        )),
        Ended::Shutdown => Some("closed: proxy shutting down".into()),
    };
    let action = if go.verdict == Verdict::AuditDeny {
        Action::AuditDeny
    } else {
        Action::Allow
    };
    let mut ev = decide::event(
        shared,
        &caller,
        &target,
        go.generation.number,
        action,
        Transport::Tunnel,
    );
    ev.start_ms = ev.time_ms.saturating_sub(traffic.age_ms());
    ev.entry = go.entry.clone();
    ev.ip = Some(ip.ip());
    ev.bytes_up = traffic.up.load(std::sync::atomic::Ordering::Relaxed);
    ev.bytes_down = traffic.down.load(std::sync::atomic::Ordering::Relaxed);
    ev.duration_ms = Some(traffic.age_ms());
    if let Some(reason) = reason {
        ev = ev.with_reason(reason);
    }
    shared.audit.emit(ev.into_event());
}
