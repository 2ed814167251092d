//! The proxy's own responses: 403 policy denials with a JSON body that says what was
//! refused and what policy change would allow it, and the JSON errors for everything
//! else the proxy answers itself (bad requests, upstream failures, overload).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

/// The body type of every response the proxy sends to clients.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// Wraps a complete in-memory body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub(crate) fn empty() -> ProxyBody {
    full(Bytes::new())
}

/// What a denial names; serialised as the 403 body.
pub(crate) struct Denial<'a> {
    pub host: &'a str,
    pub port: u16,
    pub binary: Option<&'a str>,
    pub reason: &'a str,
    pub hint: &'a str,
    /// For request-level (L7) denials.
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
}

/// `403` with `{"error":"policy_denied","host",...,"hint"}`.
pub(crate) fn denied(denial: &Denial<'_>) -> Response<ProxyBody> {
    let mut body = serde_json::json!({
        "error": "policy_denied",
        "host": denial.host,
        "port": denial.port,
        "binary": denial.binary,
        "reason": denial.reason,
        "hint": denial.hint,
    });
    if let (Some(method), Some(map)) = (denial.method, body.as_object_mut()) {
        map.insert("method".into(), method.into());
        map.insert("path".into(), denial.path.unwrap_or_default().into());
    }
    json(StatusCode::FORBIDDEN, &body)
}

/// Any other JSON error: `{"error": code, "message": ...}`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<ProxyBody> {
    let mut text = body.to_string();
    text.push('\n');
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The raw bytes written to a connection refused before any request was read
/// (over the connection limit): there is no request to answer with hyper.
pub(crate) fn overloaded_raw(limit: usize) -> Vec<u8> {
    let body = format!(
        "{{\"error\":\"too_many_connections\",\"message\":\"this sandbox already has {limit} open connections through the proxy\"}}\n"
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
