//! The compiled policy: the one matching engine every layer asks "may this go?".
//!
//! Compiled once per policy generation (hosts indexed, every glob built); after that
//! `decide_connect` and `decide_request` answer without allocating, so the proxy can
//! call them on every connection and request. No other crate matches hosts, paths or
//! binaries itself.
//!
//! Connection decisions are allow/deny only: as in OpenShell, `enforcement: audit`
//! relaxes an endpoint's request rules, never who may connect where.

mod compile;
mod index;
mod request;

use std::ops::ControlFlow;

use globset::GlobSet;

use crate::error::PolicyError;
use crate::host::{self, HostPattern, HostRef, MAX_HOST_LEN};
use crate::model::{Enforcement, Policy, Protocol, TlsMode};

pub use request::RequestDecision;

/// Index of an endpoint in the compiled policy (stable for one generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u32);

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through.
    Allow,
    /// Block it.
    Deny,
    /// Would be denied, passes because the endpoint has `enforcement: audit`; log it.
    AuditDeny,
}

impl Verdict {
    /// `allow`, `deny` or `audit-deny` (for logs and `explain`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::AuditDeny => "audit-deny",
        }
    }
}

/// Why a connection was (not) allowed; stable strings for logs and `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DenyReason {
    /// Not denied: an endpoint matched host, port and binary.
    NotDenied,
    /// The host is not a valid DNS name or IP literal.
    InvalidHost,
    /// No endpoint's host pattern matches the host.
    NoEndpointForHost,
    /// The host matches, but no matching endpoint lists this port.
    PortNotAllowed,
    /// Host and port match, but the entry lists binaries and the caller's is unknown.
    BinaryUnknown,
    /// Host and port match, but the entry does not list this binary.
    BinaryNotAllowed,
}

impl DenyReason {
    /// Human-readable reason.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::NotDenied => "allowed",
            DenyReason::InvalidHost => "host is not a valid DNS name or IP address",
            DenyReason::NoEndpointForHost => "no network_policies endpoint matches this host",
            DenyReason::PortNotAllowed => "an endpoint matches this host but not this port",
            DenyReason::BinaryUnknown => {
                "an endpoint matches host and port but the calling binary is unknown"
            }
            DenyReason::BinaryNotAllowed => {
                "an endpoint matches host and port but its entry does not list this binary"
            }
        }
    }
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Answer to "may this connection go?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectDecision<'a> {
    /// Allow or deny (connections are never audit-denied: audit relaxes L7 only).
    pub verdict: Verdict,
    /// Key of the `network_policies` entry that allowed the connection, or on a
    /// binary mismatch the entry whose host and port matched (for hints).
    pub entry: Option<&'a str>,
    /// The endpoint that allowed the connection (`None` when denied).
    pub endpoint: Option<EndpointId>,
    /// Why.
    pub reason: DenyReason,
}

/// An endpoint as the proxy needs it at run time.
#[derive(Debug, Clone)]
pub struct CompiledEndpoint {
    /// Key of the owning `network_policies` entry.
    pub entry: String,
    /// Index within the entry's `endpoints`.
    pub index: usize,
    /// The normalised host pattern as written (lowercase).
    pub host: String,
    /// Allowed ports.
    pub ports: Vec<u16>,
    /// Application protocol.
    pub protocol: Option<Protocol>,
    /// TLS override.
    pub tls: Option<TlsMode>,
    /// Enforce or audit.
    pub enforcement: Enforcement,
    /// Private addresses the operator allowed for this host.
    pub allowed_ips: Vec<ipnet::IpNet>,
    /// The operator wrote an exact name or IP literal (not a wildcard).
    pub host_is_exact: bool,
    /// Protocol rest|websocket (and not `tls: skip`): terminate TLS and apply L7 rules.
    pub inspect: bool,
    /// Accept `%2F` in request paths.
    pub allow_encoded_slash: bool,
}

/// Which binaries an entry admits.
#[derive(Debug)]
struct BinaryMatcher {
    set: GlobSet,
    /// Some pattern is `/**` (or `**`): the operator allowed any binary, unknown included.
    any: bool,
}

#[derive(Debug)]
struct CompiledEntry {
    key: String,
    binaries: BinaryMatcher,
}

/// The matching half of an endpoint (the public half is [`CompiledEndpoint`]).
#[derive(Debug)]
struct EndpointMatcher {
    entry: u32,
    host: HostPattern,
    ports: Vec<u16>,
    l7: request::L7Endpoint,
}

/// A policy compiled for fast, allocation-free decisions. `Send + Sync`: share one
/// per generation behind an `Arc`/`ArcSwap`.
#[derive(Debug)]
pub struct CompiledPolicy {
    policy: Policy,
    endpoints: Vec<CompiledEndpoint>,
    matchers: Vec<EndpointMatcher>,
    entries: Vec<CompiledEntry>,
    /// Host → candidate endpoints, each list inspected-first, then policy order.
    hosts: index::HostIndex,
}

impl CompiledPolicy {
    /// Compiles every glob and index once for this policy generation.
    ///
    /// Fails only for a `Policy` that did not come from [`crate::parse_str`] (which
    /// already compiled every glob) and holds an invalid host or glob.
    pub fn compile(policy: &Policy) -> Result<CompiledPolicy, PolicyError> {
        compile::compile(policy)
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// All endpoints, indexed by [`EndpointId`].
    pub fn endpoints(&self) -> &[CompiledEndpoint] {
        &self.endpoints
    }

    /// The endpoint behind an id returned by `decide_connect`.
    ///
    /// # Panics
    /// If `id` did not come from this compiled policy (ids are per generation).
    pub fn endpoint(&self, id: EndpointId) -> &CompiledEndpoint {
        &self.endpoints[id.0 as usize]
    }

    /// Decides a connection. `host` is case-insensitive and may be an IP literal;
    /// `binary` is the executable path inside the sandbox (`None` = unknown).
    ///
    /// When several endpoints allow it, an inspected one wins (so an L4 entry cannot
    /// bypass another entry's request rules), then exact hosts before wildcards, then
    /// policy order. Allocation-free.
    pub fn decide_connect(
        &self,
        host: &str,
        port: u16,
        binary: Option<&str>,
    ) -> ConnectDecision<'_> {
        let mut buf = [0u8; MAX_HOST_LEN];
        let Some(host) = host::normalize(host, &mut buf) else {
            return self.deny(DenyReason::InvalidHost, None);
        };
        let mut search = Search {
            policy: self,
            host,
            port,
            binary,
            best: None,
            reason: DenyReason::NoEndpointForHost,
            near: None,
        };
        self.hosts.visit(host, |ids| {
            search.consider(ids);
            if search.found_inspected() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        match search.best {
            Some(id) => ConnectDecision {
                verdict: Verdict::Allow,
                entry: Some(&self.entries[self.matchers[id as usize].entry as usize].key),
                endpoint: Some(EndpointId(id)),
                reason: DenyReason::NotDenied,
            },
            None => self.deny(search.reason, search.near),
        }
    }

    fn deny(&self, reason: DenyReason, near: Option<u32>) -> ConnectDecision<'_> {
        ConnectDecision {
            verdict: Verdict::Deny,
            entry: near.map(|e| self.entries[e as usize].key.as_str()),
            endpoint: None,
            reason,
        }
    }

    /// Could any entry allow this host on some port, for some binary? The policy DNS
    /// server answers only names for which this is true.
    pub fn host_could_match(&self, host: &str) -> bool {
        let mut buf = [0u8; MAX_HOST_LEN];
        let Some(host) = host::normalize(host, &mut buf) else {
            return false;
        };
        let mut found = false;
        self.hosts.visit(host, |ids| {
            found = ids
                .iter()
                .any(|&id| self.matchers[id as usize].host.matches(host));
            if found {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        found
    }
}

/// State of one `decide_connect` walk over candidate endpoints.
struct Search<'p, 'h> {
    policy: &'p CompiledPolicy,
    host: HostRef<'h>,
    port: u16,
    binary: Option<&'h str>,
    best: Option<u32>,
    reason: DenyReason,
    near: Option<u32>,
}

impl Search<'_, '_> {
    fn found_inspected(&self) -> bool {
        self.best
            .is_some_and(|id| self.policy.matchers[id as usize].l7.inspect)
    }

    /// Looks at one candidate list (inspected endpoints first) and keeps the best allow.
    fn consider(&mut self, ids: &[u32]) {
        for &id in ids {
            let matcher = &self.policy.matchers[id as usize];
            if !matcher.host.matches(self.host) {
                continue;
            }
            if !matcher.ports.contains(&self.port) {
                self.reason = self.reason.max(DenyReason::PortNotAllowed);
                continue;
            }
            let entry = &self.policy.entries[matcher.entry as usize];
            let admitted = match self.binary {
                Some(path) => entry.binaries.set.is_match(path),
                None => entry.binaries.any,
            };
            if !admitted {
                let why = if self.binary.is_some() {
                    DenyReason::BinaryNotAllowed
                } else {
                    DenyReason::BinaryUnknown
                };
                if why > self.reason || self.near.is_none() {
                    self.near = Some(matcher.entry);
                }
                self.reason = self.reason.max(why);
                continue;
            }
            let better = match self.best {
                None => true,
                Some(best) => matcher.l7.inspect && !self.policy.matchers[best as usize].l7.inspect,
            };
            if better {
                self.best = Some(id);
            }
            // Lists are sorted inspected-first: nothing later in this list is better.
            return;
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
