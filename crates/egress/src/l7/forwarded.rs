//! Request rules for a forwarded plain-HTTP request (`GET http://host/path` to the
//! proxy) on an inspected endpoint: the same path checks, decision and 403 body as
//! inside an inspected tunnel, for the forward path in `crate::forward`.
//!
//! The forward path sends the request line as the client wrote it; the decision is
//! made on the canonical path, which differs only by collapsed `//` runs (see
//! [`super::path`]), a difference no server resolves into another rule's territory.

use cordon_policy::{CompiledPolicy, EndpointId, Verdict};
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::deny::{self, L7Denial};
use super::path::canonical_path;
use crate::respond::{self, ProxyBody};

/// What the rules say about a forwarded request.
pub(crate) enum Ruling {
    /// Allowed by a rule or preset (the reason names it).
    Allow(Option<String>),
    /// Would be denied; passes (`enforcement: audit`). The reason for the log.
    AuditDeny(String),
    /// Denied: the reason for the log and the 403 to send.
    Deny(String, Box<Response<ProxyBody>>),
}

/// The request on `endpoint` (host and port from the URL, `binary` the caller's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn rule(
    compiled: &CompiledPolicy,
    endpoint: EndpointId,
    host: &str,
    port: u16,
    binary: Option<&str>,
    method: &str,
    raw_path: &str,
    query: Option<&str>,
) -> Ruling {
    let ep = compiled.endpoint(endpoint);
    let deny = |path: &str, rule: Option<&str>, reason: &str, hint: &str| {
        let body = L7Denial {
            host,
            port,
            binary,
            method,
            path,
            entry: Some(&ep.entry),
            rule,
            reason,
            hint,
        }
        .body();
        let mut response = Response::new(respond::full(body));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let why = match rule {
            Some(rule) => format!("{reason} ({rule})"),
            None => reason.to_owned(),
        };
        Ruling::Deny(why, Box::new(response))
    };
    let path = match canonical_path(raw_path, ep.allow_encoded_slash) {
        Ok(path) => path,
        Err(refusal) => {
            let hint = deny::path_hint(compiled, endpoint, refusal);
            return deny(raw_path, None, &refusal.to_string(), &hint);
        }
    };
    let d = compiled.decide_request(endpoint, method, &path, query);
    match d.verdict {
        Verdict::Allow => Ruling::Allow(d.rule.map(|rule| format!("{} ({rule})", d.reason))),
        Verdict::AuditDeny => Ruling::AuditDeny(match d.rule {
            Some(rule) => format!("{} ({rule})", d.reason),
            None => d.reason.to_owned(),
        }),
        Verdict::Deny => {
            let hint = deny::hint(compiled, d.endpoint, method, &path, d.rule);
            deny(&path, d.rule, d.reason, &hint)
        }
    }
}
