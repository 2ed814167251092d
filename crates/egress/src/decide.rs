//! The decision for one destination, shared by CONNECT tunnels and forwarded requests:
//! policy (host, port, binary) against one generation, then name resolution, then the
//! SSRF check of every resolved address. The result either carries the validated
//! addresses to dial (no second lookup) or everything a 403 and an audit line need.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use cordon_audit::{Action, NetworkEvent, Severity, Transport};
use cordon_policy::{EndpointId, Verdict};
use http::StatusCode;

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
    let generation = shared.policy.current();
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
    let (verdict, entry, endpoint, reason) = {
        let d = generation
            .compiled
            .decide_connect(&target.host, target.port, binary);
        (d.verdict, d.entry.map(str::to_owned), d.endpoint, d.reason)
    };
    if verdict == Verdict::Deny {
        let mut reason = reason.as_str().to_owned();
        if binary.is_none()
            && let Some(why) = &caller.unknown
        {
            reason = format!("{reason} (caller unknown: {why})");
        }
        return Outcome::Refused(Refused {
            generation: generation.number,
            status: StatusCode::FORBIDDEN,
            error: "policy_denied",
            entry,
            reason,
            hint: cordon_policy::suggest_entry(&target.host, target.port, binary),
            severity: Severity::Medium,
        });
    }
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
    let reason = (verdict == Verdict::AuditDeny).then(|| reason.as_str().to_owned());
    Outcome::Go(Go {
        generation,
        verdict,
        entry,
        endpoint,
        reason,
        addrs,
    })
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
