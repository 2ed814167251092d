//! Credential placeholders on the requests the proxy reads in clear: inspected
//! connections (`protocol: rest|websocket` tunnels, TLS-terminated or plain, captured
//! transparently or through CONNECT) and plain-HTTP forwarded requests.
//!
//! Every such request goes through [`prepare`] after it was allowed and before
//! anything is dialled or sent. With the credential the request's endpoint binds
//! (`credential_binding.provider`, only on inspected endpoints) the one
//! [`cordon_secrets::Substitutor`] of the sandbox swaps placeholders for the real
//! value in headers, and with `json_body: true` in JSON bodies; any other placeholder
//! (another credential, no binding, in the URL, in a body not opted in, one the
//! sandbox was not given) refuses the whole request: 403, an audit line, nothing sent.
//! On a `websocket` endpoint that is the upgrade request; the messages exchanged after
//! it are not scanned (a placeholder sent in a message reaches the server unchanged,
//! and is useless there), and neither are body trailers.
//!
//! Bodies not substituted are checked too: a small body with a known length is read
//! first and checked whole (a refusal then sends nothing); any other body streams
//! through a guard that fails it at the first frame carrying a placeholder.
//!
//! Tunnels the proxy does not inspect carry bytes it never sees: a placeholder there
//! reaches its destination as the opaque, useless token it is (the real value is only
//! ever written on inspected requests to bound endpoints). See docs/inference.md.

mod body;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use cordon_policy::{CredentialBinding, EndpointId};
use cordon_secrets::{PlaceholderRefusal, Substitutor};
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};

pub(crate) use body::OutBody;

use crate::generation::Generation;
use crate::respond::{self, ProxyBody};

/// Largest JSON body read for substitution (`json_body: true`). At the limit: `413`,
/// nothing sent. Credentials travel in small API calls; uploads do not need them in
/// the body.
pub const MAX_SUBSTITUTED_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Bodies up to this size (with a known length) are read and checked whole before
/// the request is sent, so a refusal sends nothing; larger ones are guarded while
/// streaming.
pub const CHECKED_WHOLE_BODY_BYTES: u64 = 64 * 1024;

/// The credential binding of an endpoint, when the proxy can honour it (inspected).
pub(crate) fn binding(
    generation: &Generation,
    id: Option<EndpointId>,
) -> Option<CredentialBinding> {
    let id = id?;
    let compiled = generation.compiled.endpoint(id);
    if !compiled.inspect {
        return None;
    }
    generation
        .compiled
        .policy()
        .network_policies
        .get(&compiled.entry)
        .and_then(|entry| entry.endpoints.get(compiled.index))
        .and_then(|endpoint| endpoint.credential_binding.clone())
}

/// A request ready to go upstream, and what substitution did to it.
pub(crate) struct Prepared {
    pub request: Request<OutBody>,
    /// Set when the body guard stopped the request mid-way.
    pub tripped: Arc<AtomicBool>,
    /// For the audit line: `credential X substituted (N placeholders)`.
    pub note: Option<String>,
}

/// Why a request may not leave.
#[derive(Debug)]
pub(crate) enum Refused {
    /// A placeholder where it may not go.
    Placeholder(PlaceholderRefusal),
    /// A body too large to substitute.
    TooLarge,
    /// The client's body failed while it was read.
    Unreadable(String),
    /// The streaming guard found a placeholder in a body that is not substituted.
    GuardedBody,
}

impl Refused {
    /// The audit reason.
    pub(crate) fn reason(&self) -> String {
        match self {
            Refused::Placeholder(refusal) => format!("placeholder refused: {refusal}"),
            Refused::TooLarge => format!(
                "request body over {MAX_SUBSTITUTED_BODY_BYTES} bytes on an endpoint substituting JSON bodies"
            ),
            Refused::Unreadable(why) => format!("reading the request body failed: {why}"),
            Refused::GuardedBody => "placeholder refused: the request body carries a cordon placeholder and this endpoint does not substitute bodies (the request was aborted before the placeholder was sent)".to_owned(),
        }
    }

    /// The answer to the client (audit separately).
    pub(crate) fn response(
        &self,
        host: &str,
        port: u16,
        binary: Option<&str>,
    ) -> Response<ProxyBody> {
        match self {
            Refused::Placeholder(refusal) => {
                placeholder_denied(host, port, binary, &refusal.to_string(), &refusal.hint())
            }
            Refused::GuardedBody => placeholder_denied(
                host,
                port,
                binary,
                &self.reason(),
                "send the credential in a header, or set `json_body: true` in the endpoint's credential_binding",
            ),
            Refused::TooLarge => respond::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &self.reason(),
            ),
            Refused::Unreadable(_) => {
                respond::error(StatusCode::BAD_REQUEST, "bad_request", &self.reason())
            }
        }
    }

    /// The audit status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refused::Placeholder(_) | Refused::GuardedBody => StatusCode::FORBIDDEN,
            Refused::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refused::Unreadable(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// `403 {"error":"placeholder_refused",...}`.
fn placeholder_denied(
    host: &str,
    port: u16,
    binary: Option<&str>,
    reason: &str,
    hint: &str,
) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "error": "placeholder_refused",
        "host": host,
        "port": port,
        "binary": binary,
        "reason": reason,
        "hint": hint,
    });
    let mut response = Response::new(respond::full(format!("{body}\n")));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Substitutes or refuses (see the module documentation). `binding` is what the
/// request's endpoint binds ([`binding`]).
pub(crate) async fn prepare(
    substitutor: &Substitutor,
    req: Request<Incoming>,
    binding: Option<&CredentialBinding>,
) -> Result<Prepared, Refused> {
    let (mut parts, body) = req.into_parts();
    let bound = binding.map(|b| b.provider.as_str());
    let target = parts.uri.path_and_query().map_or("", |p| p.as_str());
    substitutor
        .check_target(target)
        .map_err(Refused::Placeholder)?;
    let mut count = substitutor
        .apply_to_headers(&mut parts.headers, bound)
        .map_err(Refused::Placeholder)?
        .count;
    let tripped = Arc::new(AtomicBool::new(false));
    let body = if body.is_end_stream() {
        OutBody::full(Bytes::new())
    } else if binding.is_some_and(|b| b.json_body) {
        let bytes = read_whole(body, MAX_SUBSTITUTED_BODY_BYTES).await?;
        match substitutor
            .apply_to_json_body(&bytes, bound)
            .map_err(Refused::Placeholder)?
        {
            Some((rewritten, done)) => {
                count += done.count;
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(rewritten.len()));
                parts.headers.remove(header::TRANSFER_ENCODING);
                OutBody::full(Bytes::from(rewritten))
            }
            None => OutBody::full(bytes),
        }
    } else if body
        .size_hint()
        .exact()
        .is_some_and(|n| n <= CHECKED_WHOLE_BODY_BYTES)
    {
        let limit = usize::try_from(CHECKED_WHOLE_BODY_BYTES).unwrap_or(usize::MAX);
        let bytes = read_whole(body, limit).await?;
        substitutor
            .check_body(&bytes)
            .map_err(Refused::Placeholder)?;
        OutBody::full(bytes)
    } else {
        OutBody::guarded(body, Arc::clone(&tripped))
    };
    let note = match (count, bound) {
        (0, _) | (_, None) => None,
        (n, Some(provider)) => Some(format!(
            "credential `{provider}` substituted for {n} placeholder{}",
            if n == 1 { "" } else { "s" }
        )),
    };
    Ok(Prepared {
        request: Request::from_parts(parts, body),
        tripped,
        note,
    })
}

async fn read_whole(body: Incoming, limit: usize) -> Result<Bytes, Refused> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(Refused::TooLarge),
        Err(err) => Err(Refused::Unreadable(err.to_string())),
    }
}

/// A request whose body the guard stopped after the response had already started
/// (the server answered before reading the body): its audit line becomes a denial.
pub(crate) fn mark_if_tripped(ev: &mut cordon_audit::NetworkEvent, tripped: &AtomicBool) {
    if tripped.load(std::sync::atomic::Ordering::SeqCst) {
        ev.action = cordon_audit::Action::Deny;
        ev.severity = ev.severity.max(cordon_audit::Severity::Medium);
        ev.reason = Some(Refused::GuardedBody.reason());
    }
}

#[cfg(test)]
mod tests {
    use cordon_policy::CompiledPolicy;

    use super::*;

    fn generation(yaml: &str) -> Generation {
        let loaded = cordon_policy::parse_str(yaml, "test").unwrap();
        Generation {
            number: 1,
            compiled: CompiledPolicy::compile(&loaded.policy).unwrap(),
        }
    }

    #[test]
    fn only_inspected_endpoints_bind_their_credential() {
        let g = generation(
            "version: 1\nnetwork_policies:\n  e:\n    endpoints:\n      \
             - {host: api.test, port: 443, protocol: rest, access: full, credential_binding: {provider: github}}\n      \
             - {host: raw.test, port: 443, credential_binding: {provider: github}}\n      \
             - {host: plain.test, port: 443, protocol: rest, access: full}\n    \
             binaries: [{path: \"/**\"}]\n",
        );
        let at = |host: &str| {
            let id = g.compiled.decide_connect(host, 443, None).endpoint;
            binding(&g, id).map(|b| b.provider)
        };
        assert_eq!(at("api.test").as_deref(), Some("github"));
        // A binding the proxy could not honour (no inspection) binds nothing.
        assert_eq!(at("raw.test"), None);
        assert_eq!(at("plain.test"), None);
        assert_eq!(binding(&g, None), None);
    }
}
