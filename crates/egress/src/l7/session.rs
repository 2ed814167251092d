//! The state of one inspected client connection, shared by its requests: who the
//! caller is, where the connection was allowed to go, which policy generation and
//! endpoint decide its requests, the upstream connection, and byte counts for the
//! connection's closing audit line.
//!
//! Every request is decided against the generation in force when it arrives. When a
//! reload happened since the previous request, the destination is decided again
//! first (host, port, binary, and the SSRF rules for the address in use); if the new
//! generation no longer allows it, the request is refused and the connection closed,
//! as an open tunnel would be.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cordon_audit::{Action, HttpInfo, NetworkEvent, Transport};
use cordon_policy::{EndpointId, Verdict};
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::deny::L7Denial;
use super::gate::GateShared;
use super::origin::SharedOrigin;
use crate::caller::Caller;
use crate::decide::{self, Target};
use crate::generation::Generation;
use crate::respond::{self, ProxyBody};
use crate::server::Shared;

/// The generation and endpoint a request is decided with.
#[derive(Clone)]
pub(crate) struct View {
    pub generation: Arc<Generation>,
    pub endpoint: EndpointId,
    pub entry: Option<String>,
}

pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub caller: Arc<Caller>,
    pub target: Target,
    /// The client speaks TLS to us (and we to the upstream).
    pub tls: bool,
    pub origin: SharedOrigin,
    pub gate: Arc<GateShared>,
    /// The address the connection's decision dialled first (for reload re-checks).
    pub ip: IpAddr,
    view: Mutex<View>,
    pub requests: AtomicU64,
    pub up: Arc<AtomicU64>,
    pub down: Arc<AtomicU64>,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        caller: Arc<Caller>,
        target: Target,
        tls: bool,
        origin: SharedOrigin,
        gate: Arc<GateShared>,
        ip: IpAddr,
        view: View,
    ) -> Session {
        Session {
            shared,
            caller,
            target,
            tls,
            origin,
            gate,
            ip,
            view: Mutex::new(view),
            requests: AtomicU64::new(0),
            up: Arc::new(AtomicU64::new(0)),
            down: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The generation in force and this connection's endpoint in it, or why the
    /// connection is no longer allowed.
    pub(crate) fn view(&self) -> Result<View, String> {
        let current = self.shared.policy.current();
        let mut view = self
            .view
            .lock()
            .map_err(|_| "internal error: session state poisoned".to_owned())?;
        if view.generation.number == current.number {
            return Ok(view.clone());
        }
        let binary = self.caller.binary.as_deref();
        if !decide::still_allowed(&self.shared, &current, &self.caller, &self.target, self.ip) {
            return Err(format!(
                "policy generation {} no longer allows this destination",
                current.number
            ));
        }
        let d = current
            .compiled
            .decide_connect(&self.target.host, self.target.port, binary);
        let (Verdict::Allow | Verdict::AuditDeny, Some(endpoint)) = (d.verdict, d.endpoint) else {
            return Err(format!(
                "policy generation {} no longer allows this destination: {}",
                current.number, d.reason
            ));
        };
        *view = View {
            entry: d.entry.map(str::to_owned),
            generation: Arc::clone(&current),
            endpoint,
        };
        Ok(view.clone())
    }

    /// An audit event for one request on this connection (URL scheme `https` when
    /// the client spoke TLS to us).
    pub(crate) fn event(
        &self,
        generation: u64,
        action: Action,
        method: &str,
        path: &str,
        status: Option<u16>,
    ) -> NetworkEvent {
        let mut ev = decide::event(
            &self.shared,
            &self.caller,
            &self.target,
            generation,
            action,
            Transport::Forward,
        );
        ev.http = Some(HttpInfo::new(method, path, status).over_tls(self.tls));
        ev.ip = Some(self.ip);
        ev
    }

    /// Counts one request (for the connection's closing line).
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A 403 for a request the rules refused, audited.
    pub(crate) fn deny(
        &self,
        view: &View,
        method: &str,
        path: &str,
        rule: Option<&str>,
        reason: &str,
        hint: &str,
    ) -> Response<ProxyBody> {
        let why = rule_reason(rule, reason);
        let mut ev = self
            .event(
                view.generation.number,
                Action::Deny,
                method,
                path,
                Some(403),
            )
            .with_reason(&why);
        ev.entry = view.entry.clone();
        self.shared.audit.emit(ev.into_event());
        let body = L7Denial {
            host: &self.target.host,
            port: self.target.port,
            binary: self.caller.binary.as_deref(),
            method,
            path,
            entry: view.entry.as_deref(),
            rule,
            reason,
            hint,
        }
        .body();
        json(StatusCode::FORBIDDEN, body)
    }

    /// A refusal that is not a rule decision (malformed or mismatched request, revoked
    /// destination): audited as a deny, answered with `status` and the connection
    /// closed after the response.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn refuse(
        &self,
        generation: u64,
        entry: Option<String>,
        method: &str,
        path: &str,
        status: StatusCode,
        code: &str,
        reason: &str,
    ) -> Response<ProxyBody> {
        let mut ev = self
            .event(
                generation,
                Action::Deny,
                method,
                path,
                Some(status.as_u16()),
            )
            .with_reason(reason);
        ev.entry = entry;
        self.shared.audit.emit(ev.into_event());
        close_after(respond::error(status, code, reason))
    }
}

/// `reason (rule)`.
pub(crate) fn rule_reason(rule: Option<&str>, reason: &str) -> String {
    match rule {
        Some(rule) => format!("{reason} ({rule})"),
        None => reason.to_owned(),
    }
}

/// Marks a response as the last on its connection.
pub(crate) fn close_after(mut response: Response<ProxyBody>) -> Response<ProxyBody> {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn json(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(respond::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
