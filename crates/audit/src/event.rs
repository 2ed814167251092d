//! The typed audit events. Fields are the facts a reviewer needs to answer "what left
//! this sandbox, who sent it, and which policy line allowed it" — and nothing that
//! could carry a secret.

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest string kept in any field; a hostile client controls hosts and paths, and a
/// log line must stay a line a human can read.
const MAX_FIELD_CHARS: usize = 1024;

/// Milliseconds since the Unix epoch (OCSF `time`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What the proxy did with a connection or request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Allowed by a policy entry.
    Allow,
    /// Refused.
    Deny,
    /// Would have been refused, passed because the endpoint has `enforcement: audit`.
    AuditDeny,
    /// Sent somewhere other than where the client asked (the inference router).
    Route,
}

impl Action {
    /// The cordon verb written to the log (`allow`, `deny`, `audit-deny`, `route`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::AuditDeny => "audit-deny",
            Action::Route => "route",
        }
    }
}

/// How serious an event is (OCSF `severity_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Normal traffic.
    Informational,
    /// Would-be denials in audit mode.
    Low,
    /// Denials: the agent tried something the policy does not allow.
    Medium,
    /// Integrity problems: a binary changed after first use.
    High,
}

impl Severity {
    /// The default severity of an action.
    pub fn for_action(action: Action) -> Severity {
        match action {
            Action::Allow | Action::Route => Severity::Informational,
            Action::AuditDeny => Severity::Low,
            Action::Deny => Severity::Medium,
        }
    }
}

/// How the client reached the destination through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// An HTTP `CONNECT` tunnel: bytes relayed opaquely (OCSF Network Activity).
    Tunnel,
    /// A forwarded absolute-form HTTP request (OCSF HTTP Activity).
    Forward,
    /// A query to the sandbox's policy DNS stub (OCSF DNS Activity); `host` is the
    /// name asked for. Only refusals are logged.
    Dns,
}

/// The HTTP facts of a forwarded request: method, path without query, status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpInfo {
    /// Request method as sent (`GET`, `POST`, ...).
    pub method: String,
    /// Request path with query string and fragment removed.
    pub path: String,
    /// Upstream response status, when one was received.
    pub status: Option<u16>,
    /// The request was read inside a TLS connection the proxy terminated, so the URL
    /// the client used was `https`; plain-HTTP requests (forwarded, or in a plain
    /// inspected tunnel) leave it false.
    pub tls: bool,
}

impl HttpInfo {
    /// Builds the HTTP facts; `path_and_query` may contain a query string, which is
    /// dropped here so that tokens in URLs never reach the log.
    pub fn new(method: &str, path_and_query: &str, status: Option<u16>) -> HttpInfo {
        let path = path_and_query.split(['?', '#']).next().unwrap_or_default();
        HttpInfo {
            method: clip(method),
            path: clip(path),
            status,
            tls: false,
        }
    }

    /// The same facts, marked as read inside TLS (URL scheme `https`) when `tls`.
    pub fn over_tls(mut self, tls: bool) -> HttpInfo {
        self.tls = tls;
        self
    }
}

/// One decision about one connection or request.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkEvent {
    /// When the event was emitted (ms since epoch): at decision for denials, at
    /// connection end for allowed tunnels.
    pub time_ms: u64,
    /// When the connection or request started (ms since epoch).
    pub start_ms: u64,
    /// Name of the sandbox.
    pub sandbox: String,
    /// Policy generation that decided.
    pub generation: u64,
    /// What was done.
    pub action: Action,
    /// Severity (defaults from the action; TOFU refusals are High).
    pub severity: Severity,
    /// Tunnel or forwarded request.
    pub transport: Transport,
    /// Destination host as the client named it (lower-cased).
    pub host: String,
    /// Destination port.
    pub port: u16,
    /// The validated address actually dialled, if any.
    pub ip: Option<IpAddr>,
    /// The client's address inside the sandbox.
    pub src: Option<SocketAddr>,
    /// Executable path of the calling process, as seen inside the sandbox.
    pub binary: Option<String>,
    /// SHA-256 (hex) of that executable, recorded on first use.
    pub binary_sha256: Option<String>,
    /// Process id of the caller (in the supervisor's pid namespace).
    pub pid: Option<u32>,
    /// `network_policies` entry that allowed (or nearly matched).
    pub entry: Option<String>,
    /// Why: the policy engine's or the proxy's reason, in words.
    pub reason: Option<String>,
    /// Bytes from the client to the destination.
    pub bytes_up: u64,
    /// Bytes from the destination to the client.
    pub bytes_down: u64,
    /// How long the connection or request lasted (ms), once it ended.
    pub duration_ms: Option<u64>,
    /// HTTP facts for forwarded requests.
    pub http: Option<HttpInfo>,
    /// Inference facts for requests the inference router handled (`route`).
    pub inference: Option<InferenceInfo>,
    /// The connection was captured transparently (the client ignored the proxy
    /// variables and dialled the destination directly).
    pub transparent: bool,
}

/// What the inference router did with one request: which provider and model, and the
/// token usage the provider reported. Names and counts only, never keys or bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceInfo {
    /// Provider (as named by `cordon provider create`) the request was sent to.
    pub provider: String,
    /// Model sent upstream (after the route's rewrite), when the request named one.
    pub model: Option<String>,
    /// Input (prompt) tokens from the response's usage fields, when reported.
    pub tokens_in: Option<u64>,
    /// Output (completion) tokens from the response's usage fields, when reported.
    pub tokens_out: Option<u64>,
    /// Whether the response was a server-sent event stream.
    pub streamed: bool,
}

impl InferenceInfo {
    /// The facts, with client-influenced strings clipped like every other field.
    pub fn new(provider: &str, model: Option<&str>) -> InferenceInfo {
        InferenceInfo {
            provider: clip(provider),
            model: model.map(clip),
            tokens_in: None,
            tokens_out: None,
            streamed: false,
        }
    }
}

impl NetworkEvent {
    /// A new event stamped now, with everything optional left empty.
    pub fn new(
        sandbox: &str,
        generation: u64,
        action: Action,
        transport: Transport,
        host: &str,
        port: u16,
    ) -> NetworkEvent {
        let now = now_ms();
        NetworkEvent {
            time_ms: now,
            start_ms: now,
            sandbox: clip(sandbox),
            generation,
            action,
            severity: Severity::for_action(action),
            transport,
            host: clip(host),
            port,
            ip: None,
            src: None,
            binary: None,
            binary_sha256: None,
            pid: None,
            entry: None,
            reason: None,
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: None,
            http: None,
            inference: None,
            transparent: false,
        }
    }

    /// Wraps the event for [`crate::AuditSink::emit`].
    pub fn into_event(self) -> AuditEvent {
        AuditEvent::Network(Box::new(self))
    }

    /// Sets the reason, clipped to a readable length.
    pub fn with_reason(mut self, reason: impl AsRef<str>) -> NetworkEvent {
        self.reason = Some(clip(reason.as_ref()));
        self
    }
}

/// Whether a policy change took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOutcome {
    /// The new generation is in force.
    Applied,
    /// The change was refused; the previous generation keeps running.
    Rejected,
}

/// A policy (re)load: applied or rejected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEvent {
    /// When (ms since epoch).
    pub time_ms: u64,
    /// Name of the sandbox.
    pub sandbox: String,
    /// Generation in force after the event (the old one when rejected).
    pub generation: u64,
    /// Applied or rejected.
    pub outcome: ConfigOutcome,
    /// Where the change came from: the policy file path, or `control-api`.
    pub source: String,
    /// What happened, e.g. every validation problem, one per line.
    pub message: String,
}

impl ConfigEvent {
    /// A config event stamped now.
    pub fn new(
        sandbox: &str,
        generation: u64,
        outcome: ConfigOutcome,
        source: &str,
        message: &str,
    ) -> ConfigEvent {
        ConfigEvent {
            time_ms: now_ms(),
            sandbox: clip(sandbox),
            generation,
            outcome,
            source: clip(source),
            // Validation reports can be long; keep several problems' worth.
            message: message.chars().take(MAX_FIELD_CHARS * 8).collect(),
        }
    }
}

/// Everything that becomes one line in the audit log.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditEvent {
    /// An egress decision.
    Network(Box<NetworkEvent>),
    /// A policy load or reload.
    Config(ConfigEvent),
    /// The writer could not keep up and dropped this many events since the last report.
    Dropped {
        /// When the gap was noticed (ms since epoch).
        time_ms: u64,
        /// How many events were lost.
        count: u64,
    },
}

/// Caps a client-controlled string so one hostile request cannot bloat the log.
fn clip(value: &str) -> String {
    if value.chars().count() <= MAX_FIELD_CHARS {
        value.to_owned()
    } else {
        let mut out: String = value.chars().take(MAX_FIELD_CHARS).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_info_drops_query_and_fragment() {
        let info = HttpInfo::new("GET", "/v1/items?token=secret#frag", Some(200));
        assert_eq!(info.path, "/v1/items");
        let info = HttpInfo::new("GET", "/x#a?b", None);
        assert_eq!(info.path, "/x");
    }

    #[test]
    fn long_hosts_are_clipped() {
        let host = "a".repeat(5000);
        let event = NetworkEvent::new("s", 1, Action::Deny, Transport::Tunnel, &host, 443);
        assert!(event.host.chars().count() <= MAX_FIELD_CHARS + 1);
    }
}
