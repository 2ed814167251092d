//! The audit line of one `inference.local` request: action `route` when it went to
//! the provider (with provider, model, status, token usage, bytes, duration), `deny`
//! when the router refused it (no route, unsupported API, budget, placeholder). Built
//! from names and counts only: no header, key or body can reach it.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use cordon_audit::{Action, HttpInfo, InferenceInfo, NetworkEvent, Transport, now_ms};

use crate::usage::Usage;

/// The host name the router answers for.
pub const INFERENCE_HOST: &str = "inference.local";

/// Who sent the request, as the egress proxy identified it (all optional: the
/// router also runs without the proxy in tests and benchmarks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// Port the client addressed (`80` for http, `443` for https).
    pub port: u16,
    /// The client's socket inside the sandbox.
    pub src: Option<SocketAddr>,
    /// Executable path as seen inside the sandbox.
    pub binary: Option<String>,
    /// Its SHA-256 (hex).
    pub binary_sha256: Option<String>,
    /// Its pid (supervisor's pid namespace).
    pub pid: Option<u32>,
    /// The client spoke TLS to `inference.local` (audited as `https`).
    pub tls: bool,
}

/// Facts fixed when the request arrives.
#[derive(Debug, Clone)]
pub(crate) struct RequestFacts {
    pub sandbox: String,
    pub generation: u64,
    pub caller: Caller,
    pub method: String,
    pub path: String,
    pub start_ms: u64,
    pub started: Instant,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub bytes_up: u64,
}

impl RequestFacts {
    fn event(&self, action: Action, status: Option<u16>) -> NetworkEvent {
        let mut ev = NetworkEvent::new(
            &self.sandbox,
            self.generation,
            action,
            Transport::Forward,
            INFERENCE_HOST,
            if self.caller.port == 0 {
                80
            } else {
                self.caller.port
            },
        );
        ev.start_ms = self.start_ms;
        ev.time_ms = now_ms();
        ev.src = self.caller.src;
        ev.binary.clone_from(&self.caller.binary);
        ev.binary_sha256.clone_from(&self.caller.binary_sha256);
        ev.pid = self.caller.pid;
        ev.entry = Some("inference".to_owned());
        ev.bytes_up = self.bytes_up;
        ev.duration_ms =
            Some(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX));
        ev.http = Some(HttpInfo::new(&self.method, &self.path, status).over_tls(self.caller.tls));
        ev
    }

    /// The router refused the request itself.
    pub(crate) fn denied(&self, status: u16, reason: &str) -> NetworkEvent {
        let mut ev = self.event(Action::Deny, Some(status)).with_reason(reason);
        if let Some(provider) = &self.provider {
            ev.inference = Some(InferenceInfo::new(provider, self.model.as_deref()));
        }
        ev
    }

    /// The request went to the provider (or failed on the way).
    pub(crate) fn routed(&self, outcome: RoutedOutcome<'_>) -> NetworkEvent {
        let mut ev = self.event(Action::Route, outcome.status);
        ev.ip = outcome.ip;
        ev.bytes_down = outcome.bytes_down;
        let mut info = InferenceInfo::new(
            self.provider.as_deref().unwrap_or_default(),
            self.model.as_deref(),
        );
        info.tokens_in = outcome.usage.input;
        info.tokens_out = outcome.usage.output;
        info.streamed = outcome.streamed;
        ev.inference = Some(info);
        match outcome.reason {
            Some(reason) => ev.with_reason(reason),
            None => ev,
        }
    }
}

/// How a routed request ended.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RoutedOutcome<'a> {
    pub status: Option<u16>,
    pub ip: Option<IpAddr>,
    pub usage: Usage,
    pub streamed: bool,
    pub bytes_down: u64,
    pub reason: Option<&'a str>,
}
