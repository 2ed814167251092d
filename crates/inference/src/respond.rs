//! The router's own answers: JSON errors shaped so both SDK families show the message
//! (`error.message` for OpenAI clients, `type: "error"` + `error.type` for Anthropic
//! clients), and the boxed body type every response uses.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value, json};

/// The body of every router response: the provider's stream as it arrives, or the
/// router's own JSON. The same type the egress proxy serves, so it hands the response
/// on without conversion.
pub type RouterBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// A complete in-memory body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> RouterBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// `{"type":"error","error":{"type":kind,"code":kind,"message":...,<extra>}}`.
pub(crate) fn error(
    status: StatusCode,
    kind: &str,
    message: &str,
    extra: Map<String, Value>,
) -> Response<RouterBody> {
    let mut inner = Map::new();
    inner.insert("type".into(), kind.into());
    inner.insert("code".into(), kind.into());
    inner.insert("message".into(), message.into());
    inner.extend(extra);
    let body = json!({ "type": "error", "error": inner });
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
