//! The decision for one destination, shared by CONNECT tunnels, forwarded requests and
//! transparent capture: policy (host, port, binary) against one generation, then name
//! resolution, then the SSRF check of every resolved address. The result either carries
//! the validated addresses to dial (no second lookup) or everything a 403 and an audit
//! line need.
//!
//! A destination no entry allows becomes a pending approval (`approvals`). With
//! `network_settings.hold_on_deny_seconds: N` the connection is then held up to N
//! seconds: every new policy generation (an approval, a reload) decides it again, and
//! the first one that allows it lets it through; a dismissal, the end of the hold or
//! the proxy's shutdown refuses it exactly as an immediate denial would.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_audit::{Action, NetworkEvent, Severity, Transport};
use cordon_policy::{DenyReason, EndpointId, Verdict};
use http::StatusCode;
use tokio::sync::watch;

use crate::approvals::Recorded;
use crate::caller::Caller;
use crate::generation::Generation;
use crate::server::Shared;
use crate::ssrf;

/// A destination as the client named it, normalised: lower-case, no trailing dot,
/// IPv6 without brackets, IPv4-mapped IPv6 literals written as IPv4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Parses `host:port` (CONNECT) or an authority with a default port (forwarding).
    pub(crate) fn parse(authority: &str, default_port: Option<u16>) -> Option<Target> {
        let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(port) => port.parse().ok()?,
                None if after.is_empty() => default_port?,
                None => return None,
            };
            (host, port)
        } else {
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().ok()?),
                None => (authority, default_port?),
            };
            // An IPv6 literal must be bracketed in an authority.
            if host.contains(':') {
                return None;
            }
            (host, port)
        };
        if port == 0 {
            return None;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() || host.contains('@') {
            return None;
        }
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => ssrf::canonical(ip).to_string(),
            Err(_) if host.contains(':') => return None,
            Err(_) => host,
        };
        Some(Target { host, port })
    }
}

/// Go ahead: what was decided and where to dial.
#[derive(Debug)]
pub(crate) struct Go {
    pub generation: Arc<Generation>,
    /// Allow, or AuditDeny (passes, logged as would-be denied).
    pub verdict: Verdict,
    pub entry: Option<String>,
    pub endpoint: Option<EndpointId>,
    pub reason: Option<String>,
    /// Validated addresses, in dialling order.
    pub addrs: Vec<SocketAddr>,
}

/// Refused: the response and the audit line.
#[derive(Debug)]
pub(crate) struct Refused {
    pub generation: u64,
    pub status: StatusCode,
    /// The `error` field of the JSON body.
    pub error: &'static str,
    pub entry: Option<String>,
    pub reason: String,
    pub hint: String,
    pub severity: Severity,
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Go(Go),
    Refused(Refused),
}

/// Decides a destination for a caller.
pub(crate) async fn decide(shared: &Shared, caller: &Caller, target: &Target) -> Outcome {
    let mut generation = shared.policy.current();
    let binary = caller.binary.as_deref();
    if let Some(changed) = &caller.changed {
        return Outcome::Refused(Refused {
            generation: generation.number,
            status: StatusCode::FORBIDDEN,
            error: "policy_denied",
            entry: None,
            reason: changed.to_string(),
            hint: format!(
                "{} was replaced after its first use in this sandbox; restart the sandbox to trust the new contents",
                changed.path
            ),
            severity: Severity::High,
        });
    }
    let mut hold: Option<Hold> = None;
    let (verdict, entry, endpoint, reason) = loop {
        let d = generation
            .compiled
            .decide_connect(&target.host, target.port, binary);
        if d.verdict != Verdict::Deny {
            break (d.verdict, d.entry.map(str::to_owned), d.endpoint, d.reason);
        }
        let entry = d.entry.map(str::to_owned);
        let mut reason = d.reason.as_str().to_owned();
        if binary.is_none()
            && let Some(why) = &caller.unknown
        {
            reason = format!("{reason} (caller unknown: {why})");
        }
        let refused = |generation: u64, reason: String| {
            Outcome::Refused(Refused {
                generation,
                status: StatusCode::FORBIDDEN,
                error: "policy_denied",
                entry: entry.clone(),
                reason,
                hint: cordon_policy::suggest_entry(&target.host, target.port, binary),
                severity: Severity::Medium,
            })
        };
        if d.reason == DenyReason::InvalidHost {
            return refused(generation.number, reason);
        }
        let held = match &mut hold {
            Some(held) => held,
            None => {
                let recorded = shared.approvals.record(
                    &target.host,
                    target.port,
                    binary,
                    cordon_audit::now_ms(),
                );
                let seconds = generation
                    .compiled
                    .policy()
                    .network_settings
                    .hold_on_deny_seconds;
                match recorded {
                    Recorded::Dismissed => {
                        return refused(
                            generation.number,
                            format!("{reason}; the operator dismissed this request (cordon deny)"),
                        );
                    }
                    Recorded::Pending(_) if seconds == 0 => {
                        return refused(generation.number, reason);
                    }
                    Recorded::Pending(_) => hold.insert(Hold::new(shared, seconds)),
                }
            }
        };
        match held.wait(shared, generation.number, target, binary).await {
            Waited::NewGeneration => generation = shared.policy.current(),
            Waited::Dismissed => {
                return refused(
                    generation.number,
                    format!(
                        "{reason}; held {} s, then the operator dismissed the request (cordon deny)",
                        held.elapsed_secs()
                    ),
                );
            }
            Waited::TimedOut => {
                return refused(
                    generation.number,
                    format!(
                        "{reason}; held {} s waiting for an operator approval (cordon approve), none came",
                        held.seconds
                    ),
                );
            }
            Waited::Shutdown => {
                return refused(
                    generation.number,
                    format!("{reason}; held for an approval until the proxy shut down"),
                );
            }
        }
    };
    // Allowed after a hold: say so on the audit line.
    let held_reason = hold.map(|held| {
        format!(
            "held {} ms until generation {} allowed it",
            held.started.elapsed().as_millis(),
            generation.number
        )
    });
    let ips = match shared.resolver.resolve(&target.host).await {
        Ok(ips) => ips,
        Err(why) => {
            return Outcome::Refused(Refused {
                generation: generation.number,
                status: StatusCode::BAD_GATEWAY,
                error: "dns_failed",
                entry,
                reason: why,
                hint: format!(
                    "check that {} resolves from the host, or pin it with --add-host NAME:IP",
                    target.host
                ),
                severity: Severity::Informational,
            });
        }
    };
    let compiled_endpoint = endpoint.map(|id| generation.compiled.endpoint(id));
    let mut addrs = Vec::with_capacity(ips.len());
    for ip in ips {
        match ssrf::check(ip, compiled_endpoint, &shared.host_addrs) {
            Ok(ip) => addrs.push(SocketAddr::new(ip, target.port)),
            // One internal answer taints the name: a rebinding resolver mixes a public
            // address with the one it is after.
            Err(refusal) => {
                return Outcome::Refused(Refused {
                    generation: generation.number,
                    status: StatusCode::FORBIDDEN,
                    error: "policy_denied",
                    entry,
                    reason: refusal.to_string(),
                    hint: cordon_policy::suggest_entry(&target.host, target.port, binary),
                    severity: Severity::Medium,
                });
            }
        }
    }
    let reason = (verdict == Verdict::AuditDeny)
        .then(|| reason.as_str().to_owned())
        .or(held_reason);
    Outcome::Go(Go {
        generation,
        verdict,
        entry,
        endpoint,
        reason,
        addrs,
    })
}

/// A connection held for an operator decision (`network_settings.hold_on_deny_seconds`).
struct Hold {
    seconds: u64,
    /// New policy generations (subscribed when the hold starts; see `wait`).
    changes: watch::Receiver<u64>,
    started: Instant,
    deadline: tokio::time::Instant,
    dismissals: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
}

/// Why a held connection woke.
enum Waited {
    /// A new policy generation is in force: decide again.
    NewGeneration,
    /// The operator dismissed this destination.
    Dismissed,
    /// No decision within the hold.
    TimedOut,
    /// The proxy is stopping.
    Shutdown,
}

impl Hold {
    fn new(shared: &Shared, seconds: u64) -> Hold {
        let mut dismissals = shared.approvals.subscribe_dismissals();
        dismissals.borrow_and_update();
        let mut changes = shared.policy.subscribe();
        changes.borrow_and_update();
        Hold {
            seconds,
            changes,
            started: Instant::now(),
            deadline: tokio::time::Instant::now() + Duration::from_secs(seconds),
            dismissals,
            shutdown: shared.shutdown.clone(),
        }
    }

    fn elapsed_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Waits for whichever comes first: a generation newer than `decided` (the one the
    /// denial was made with), a dismissal of this destination, the end of the hold, the
    /// proxy's shutdown.
    async fn wait(
        &mut self,
        shared: &Shared,
        decided: u64,
        target: &Target,
        binary: Option<&str>,
    ) -> Waited {
        // The receivers were subscribed before this check: a swap after it wakes them,
        // one before it is seen here.
        if shared.policy.number() != decided {
            return Waited::NewGeneration;
        }
        if shared
            .approvals
            .is_dismissed(&target.host, target.port, binary)
        {
            return Waited::Dismissed;
        }
        loop {
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        // The policy handle is gone: nothing will approve this any more.
                        return Waited::Shutdown;
                    }
                    return Waited::NewGeneration;
                }
                dismissed = self.dismissals.changed() => {
                    if dismissed.is_err() {
                        return Waited::Shutdown;
                    }
                    if shared.approvals.is_dismissed(&target.host, target.port, binary) {
                        return Waited::Dismissed;
                    }
                }
                () = tokio::time::sleep_until(self.deadline) => return Waited::TimedOut,
                () = crate::server::stopped(&mut self.shutdown) => return Waited::Shutdown,
            }
        }
    }
}

/// Whether an open tunnel to `ip` may stay open under `generation` (after a reload).
pub(crate) fn still_allowed(
    shared: &Shared,
    generation: &Generation,
    caller: &Caller,
    target: &Target,
    ip: IpAddr,
) -> bool {
    let d = generation
        .compiled
        .decide_connect(&target.host, target.port, caller.binary.as_deref());
    if d.verdict == Verdict::Deny {
        return false;
    }
    let endpoint = d.endpoint.map(|id| generation.compiled.endpoint(id));
    ssrf::check(ip, endpoint, &shared.host_addrs).is_ok()
}

/// An audit event for this caller and target with the common fields filled in.
pub(crate) fn event(
    shared: &Shared,
    caller: &Caller,
    target: &Target,
    generation: u64,
    action: Action,
    transport: Transport,
) -> NetworkEvent {
    let mut ev = NetworkEvent::new(
        &shared.sandbox,
        generation,
        action,
        transport,
        &target.host,
        target.port,
    );
    ev.src = caller.src;
    ev.pid = caller.pid;
    ev.binary = caller.binary.clone();
    ev.binary_sha256 = caller.sha256.clone();
    ev.transparent = caller.transparent;
    ev
}

/// The audit action for a verdict that let traffic through.
pub(crate) fn pass_action(verdict: Verdict) -> Action {
    match verdict {
        Verdict::AuditDeny => Action::AuditDeny,
        Verdict::Allow | Verdict::Deny => Action::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, default: Option<u16>) -> Option<(String, u16)> {
        Target::parse(s, default).map(|t| (t.host, t.port))
    }

    #[test]
    fn parses_authorities() {
        assert_eq!(
            t("Example.COM:443", None),
            Some(("example.com".into(), 443))
        );
        assert_eq!(t("example.com.:80", None), Some(("example.com".into(), 80)));
        assert_eq!(t("example.com", Some(80)), Some(("example.com".into(), 80)));
        assert_eq!(t("example.com", None), None);
        assert_eq!(t("[::1]:8080", None), Some(("::1".into(), 8080)));
        assert_eq!(
            t("[::ffff:127.0.0.1]:80", None),
            Some(("127.0.0.1".into(), 80))
        );
        assert_eq!(t("[::1]", Some(80)), Some(("::1".into(), 80)));
        assert_eq!(t("::1:80", None), None);
        assert_eq!(t("host:0", None), None);
        assert_eq!(t("user@host:80", None), None);
        assert_eq!(t(":80", None), None);
    }
}
