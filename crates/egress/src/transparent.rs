//! Transparent egress: connections from programs that ignore the proxy variables.
//!
//! Inside the sandbox, the capture rules (cordon-sandbox `capture/`) redirect every
//! outbound TCP connection to a listener on the sandbox's loopback, served here, and
//! every DNS query to the policy DNS (`dns_server`). For each captured connection:
//!
//! 1. its original destination comes from `SO_ORIGINAL_DST` (a connection without one
//!    was dialled at the listener itself and is refused);
//! 2. the host is the name the synthetic address stands for (`dns_map`), or the
//!    address itself when the client dialled a literal IP; a synthetic address with
//!    no current mapping is refused;
//! 3. the caller (binary) is found as for proxy connections, from the client socket's
//!    own 4-tuple (client address -> original destination);
//! 4. `decide` judges host, port and binary with the policy generation in force,
//!    resolves the name for real and applies the SSRF rules — exactly the decision a
//!    CONNECT to that host:port would get;
//! 5. endpoints with request rules (`protocol: rest|websocket`) are served by the L7
//!    path (TLS terminated with the sandbox CA, SNI and Host checked against the name,
//!    each request decided); every other allowed endpoint is relayed as raw bytes once
//!    the client's SNI or Host header (when present) agrees with the name it resolved.
//!
//! Connections to the address the policy DNS gave `inference.local` go to the
//! inference router instead of steps 4-5 (`inference.rs`).
//!
//! A refused connection is reset (there is no protocol to answer in) and audited; every
//! audit line of a captured connection carries `transparent: true`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cordon_audit::{Action, NetworkEvent, Severity, Transport};
use cordon_policy::Enforcement;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::caller::Caller;
use crate::decide::{self, Go, Outcome, Target};
use crate::dial::dial;
use crate::dns_map::{self, DnsMap};
use crate::error::EgressError;
use crate::opening::{self, Claim};
use crate::server::Shared;

/// What the supervisor hands over for transparent capture (the sockets the sandbox
/// created inside its network namespace). Plain data.
#[derive(Debug)]
pub struct TransparentConfig {
    /// The capture listeners (`127.0.0.1:<port>`, `[::1]:<port>`) redirected
    /// connections arrive on.
    pub listeners: Vec<std::net::TcpListener>,
    /// The policy DNS's UDP socket (`127.0.0.1:53`); `None` = no stub served.
    pub dns: Option<std::net::UdpSocket>,
    /// IPv6 is captured: AAAA queries get synthetic IPv6 answers (otherwise none, so
    /// clients use IPv4).
    pub ipv6: bool,
    /// The sandbox's redirect rules are in place (`EgressStats::transparent` reports
    /// capture active only then).
    pub active: bool,
}

/// Starts serving `config` with the proxy's shared state (see
/// `EgressProxy::serve_transparent`).
pub(crate) fn start(
    shared: &Arc<Shared>,
    semaphore: &Arc<Semaphore>,
    config: TransparentConfig,
) -> Result<(), EgressError> {
    let map = Arc::new(DnsMap::new());
    for listener in config.listeners {
        listener
            .set_nonblocking(true)
            .map_err(EgressError::Listener)?;
        let listener = TcpListener::from_std(listener).map_err(EgressError::Listener)?;
        tokio::spawn(accept_loop(
            Arc::clone(shared),
            Arc::clone(&map),
            listener,
            Arc::clone(semaphore),
        ));
    }
    if let Some(dns) = config.dns {
        dns.set_nonblocking(true).map_err(EgressError::Listener)?;
        let dns = UdpSocket::from_std(dns).map_err(EgressError::Listener)?;
        tokio::spawn(crate::dns_server::serve(
            Arc::clone(shared),
            map,
            dns,
            config.ipv6,
        ));
    }
    Ok(())
}

async fn accept_loop(
    shared: Arc<Shared>,
    map: Arc<DnsMap>,
    listener: TcpListener,
    semaphore: Arc<Semaphore>,
) {
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
            () = crate::server::stopped(&mut shutdown) => return,
        };
        let _ = stream.set_nodelay(true);
        match Arc::clone(&semaphore).try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(handle(
                    Arc::clone(&shared),
                    Arc::clone(&map),
                    stream,
                    src,
                    permit,
                ));
            }
            Err(_) => {
                let limit = shared.limits.max_connections;
                refuse_early(
                    &shared,
                    &stream,
                    src,
                    None,
                    format!("connection limit reached ({limit} open connections)"),
                );
            }
        }
    }
}

/// The destination the client dialled, before the redirect. `None` for a connection
/// made to the capture listener itself (no NAT record, or one naming the listener).
fn original_destination(stream: &TcpStream) -> Option<SocketAddr> {
    let local = stream.local_addr().ok()?;
    let original: SocketAddr = match local {
        SocketAddr::V4(_) => rustix::net::sockopt::ip_original_dst(stream).ok()?.into(),
        SocketAddr::V6(_) => rustix::net::sockopt::ipv6_original_dst(stream).ok()?.into(),
    };
    let ip = crate::ssrf::canonical(original.ip());
    if original == local || ip.is_loopback() || ip.is_unspecified() {
        return None;
    }
    Some(SocketAddr::new(ip, original.port()))
}

/// Resets a connection (the client sees `ECONNRESET`) and audits why.
fn refuse_early(
    shared: &Shared,
    stream: &TcpStream,
    src: SocketAddr,
    original: Option<SocketAddr>,
    reason: String,
) {
    let (host, port) = original.map_or((String::new(), 0), |o| (o.ip().to_string(), o.port()));
    let mut ev = NetworkEvent::new(
        &shared.sandbox,
        shared.policy.number(),
        Action::Deny,
        Transport::Tunnel,
        &host,
        port,
    )
    .with_reason(reason);
    ev.src = Some(src);
    ev.transparent = true;
    shared.audit.emit(ev.into_event());
    reset(stream);
}

/// Makes the close an RST, so a refused client fails at once instead of reading EOF.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

async fn handle(
    shared: Arc<Shared>,
    map: Arc<DnsMap>,
    mut client: TcpStream,
    src: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let Some(original) = original_destination(&client) else {
        refuse_early(
            &shared,
            &client,
            src,
            None,
            "connection to the transparent listener without a redirected destination".into(),
        );
        return;
    };
    let generation = shared.policy.current();
    if !generation.compiled.policy().network_settings.transparent {
        refuse_early(
            &shared,
            &client,
            src,
            Some(original),
            "transparent egress is off (network_settings.transparent: false); use the proxy".into(),
        );
        return;
    }
    let (host, named) = match map.name_for(original.ip(), &generation, Instant::now()) {
        Some(name) => (name, true),
        None if dns_map::in_pool(original.ip()) => {
            refuse_early(
                &shared,
                &client,
                src,
                Some(original),
                format!(
                    "{} is a policy DNS address with no current name (expired, or no longer allowed by the policy); resolve the name again",
                    original.ip()
                ),
            );
            return;
        }
        None => (original.ip().to_string(), false),
    };
    drop(generation);
    let target = Target {
        host,
        port: original.port(),
    };
    // `inference.local` (answered by the policy DNS when there is a router) is routed,
    // not decided: the same router as through the proxy.
    if named
        && target.host == cordon_inference::INFERENCE_HOST
        && let Some(router) = shared.inference.clone()
    {
        let mut caller = Caller::identify(&shared, src, original).await;
        caller.transparent = true;
        crate::inference::captured(&shared, router, Arc::new(caller), target.port, client).await;
        return;
    }
    let changes = shared.policy.subscribe();
    let mut caller = Caller::identify(&shared, src, original).await;
    caller.transparent = true;
    let caller = Arc::new(caller);
    let go = match decide::decide(&shared, &caller, &target).await {
        Outcome::Go(go) => go,
        Outcome::Refused(refused) => {
            let mut ev = decide::event(
                &shared,
                &caller,
                &target,
                refused.generation,
                Action::Deny,
                Transport::Tunnel,
            )
            .with_reason(&refused.reason);
            ev.entry = refused.entry;
            ev.ip = Some(original.ip()).filter(|_| !named);
            ev.severity = refused.severity.max(ev.severity);
            shared.audit.emit(ev.into_event());
            reset(&client);
            return;
        }
    };
    let route = match route(&shared, &go) {
        Ok(route) => route,
        Err(reason) => {
            deny(&shared, &caller, &target, &go, None, reason);
            reset(&client);
            return;
        }
    };
    let (mut upstream, ip) = match dial(&go.addrs, shared.limits.connect_timeout).await {
        Ok(connected) => connected,
        Err(failure) => {
            let mut ev = decide::event(
                &shared,
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
            reset(&client);
            return;
        }
    };
    if let Route::Inspect(inspection) = route {
        crate::l7::run(
            shared,
            inspection,
            caller,
            target,
            go,
            client,
            Bytes::new(),
            (upstream, ip),
        )
        .await;
        return;
    }
    // Raw bytes. A name the client resolved through the policy DNS must agree with the
    // one its own first bytes claim (SNI, Host); a literal address has nothing to agree.
    let mut prefix = Vec::new();
    if named {
        let opened = opening::read_opening(
            &mut client,
            &mut upstream,
            shared.limits.tunnel_idle_timeout,
            crate::l7::CLIENT_HANDSHAKE_TIMEOUT,
        )
        .await;
        let opened = match opened {
            Ok(opened) => opened,
            Err(err) => {
                // Idle or failed before the client said anything: one line, closed.
                let mut ev = decide::event(
                    &shared,
                    &caller,
                    &target,
                    go.generation.number,
                    decide::pass_action(go.verdict),
                    Transport::Tunnel,
                )
                .with_reason(format!("closed before the client sent anything: {err}"));
                ev.entry = go.entry.clone();
                ev.ip = Some(ip.ip());
                shared.audit.emit(ev.into_event());
                return;
            }
        };
        // `None`: one side closed before the client said anything; the relay below
        // ends at once and writes the connection's line.
        if let Some(opening) = opened {
            if let Some(claimed) = mismatch(&opening.claim, &target.host) {
                let reason = format!(
                    "{claimed} does not match {}, the name the client resolved through the policy DNS",
                    target.host
                );
                deny(&shared, &caller, &target, &go, Some(ip.ip()), reason);
                reset(&client);
                reset(&upstream);
                return;
            }
            prefix = opening.prefix;
        }
    }
    crate::connect::run_tunnel(
        &shared,
        caller,
        target,
        go,
        client,
        &prefix,
        (upstream, ip),
        changes,
    )
    .await;
}

/// How an allowed connection is served.
enum Route {
    /// TLS terminated (or plain HTTP read) and every request decided.
    Inspect(crate::l7::Inspection),
    /// Bytes relayed as they are.
    Raw,
}

/// The same choice a CONNECT tunnel gets: inspected endpoints go through L7 when the
/// proxy has a sandbox CA; without one, only an endpoint whose rules could not refuse
/// anything (or an audit-mode one) may pass uninspected.
fn route(shared: &Shared, go: &Go) -> Result<Route, String> {
    let Some(id) = go.endpoint else {
        return Ok(Route::Raw);
    };
    let endpoint = go.generation.compiled.endpoint(id);
    if !endpoint.inspect {
        return Ok(Route::Raw);
    }
    if let Some(inspection) = crate::connect::inspects(shared, go) {
        return Ok(Route::Inspect(inspection));
    }
    if endpoint.enforcement == Enforcement::Audit
        || crate::connect::allows_everything(&go.generation, id)
    {
        return Ok(Route::Raw);
    }
    Err("the endpoint has request rules (protocol: rest/websocket) and this connection cannot be inspected (no sandbox CA)".into())
}

/// The claimed name when it disagrees with `host` (`None`: agrees, or nothing claimed).
fn mismatch(claim: &Claim, host: &str) -> Option<String> {
    let (what, name) = match claim {
        Claim::Tls(Some(sni)) => ("TLS SNI", sni),
        Claim::Http(Some(name)) => ("HTTP Host", name),
        Claim::Unreadable(what) => {
            return Some(format!("an incomplete {what} (its name cannot be checked)"));
        }
        Claim::Tls(None) | Claim::Http(None) | Claim::Other => return None,
    };
    // A Host header naming an address is no claim about a name.
    if name.parse::<IpAddr>().is_ok() || name == host {
        return None;
    }
    Some(format!("{what} {name}"))
}

/// Audits a refusal of an allowed destination (routing or cross-check failed).
fn deny(
    shared: &Shared,
    caller: &Caller,
    target: &Target,
    go: &Go,
    ip: Option<IpAddr>,
    reason: String,
) {
    let mut ev = decide::event(
        shared,
        caller,
        target,
        go.generation.number,
        Action::Deny,
        Transport::Tunnel,
    )
    .with_reason(reason);
    ev.entry = go.entry.clone();
    ev.ip = ip;
    ev.severity = Severity::Medium;
    shared.audit.emit(ev.into_event());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_must_name_the_resolved_host() {
        assert_eq!(
            mismatch(&Claim::Tls(Some("api.test".into())), "api.test"),
            None
        );
        assert_eq!(
            mismatch(&Claim::Tls(Some("evil.test".into())), "api.test").as_deref(),
            Some("TLS SNI evil.test")
        );
        assert_eq!(
            mismatch(&Claim::Http(Some("evil.test".into())), "api.test").as_deref(),
            Some("HTTP Host evil.test")
        );
        assert_eq!(
            mismatch(&Claim::Http(Some("10.0.0.1".into())), "api.test"),
            None
        );
        assert_eq!(mismatch(&Claim::Tls(None), "api.test"), None);
        assert_eq!(mismatch(&Claim::Other, "api.test"), None);
        assert!(mismatch(&Claim::Unreadable("TLS ClientHello"), "api.test").is_some());
    }
}
