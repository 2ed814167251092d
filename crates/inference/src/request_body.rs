//! The request body on its way to the provider: the route's `model` replaces the
//! caller's, and OpenAI-style streams are asked to include usage. The body is parsed
//! only when something must change; otherwise the caller's bytes go out untouched.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::endpoint::ApiEndpoint;

/// The body to send and what the router learned from it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreparedBody {
    /// Bytes to send upstream.
    pub bytes: Bytes,
    /// The model sent upstream (after any rewrite), for the audit line.
    pub model: Option<String>,
    /// The caller asked for an SSE stream.
    pub stream: bool,
}

/// Why a body cannot be forwarded: answered with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyRejected(pub &'static str);

/// Prepares `body` for `endpoint` under a route that forces `route_model` (if any).
pub(crate) fn prepare(
    endpoint: ApiEndpoint,
    body: Bytes,
    route_model: Option<&str>,
) -> Result<PreparedBody, BodyRejected> {
    if !endpoint.has_model_in_body() {
        return Ok(PreparedBody {
            bytes: body,
            model: None,
            stream: false,
        });
    }
    let mut doc: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(doc)) => doc,
        _ => return Err(BodyRejected("the request body must be a JSON object")),
    };
    let stream = endpoint.can_stream() && doc.get("stream") == Some(&Value::Bool(true));
    let mut changed = false;
    if let Some(model) = route_model
        && doc.get("model").and_then(Value::as_str) != Some(model)
    {
        doc.insert("model".into(), Value::String(model.to_owned()));
        changed = true;
    }
    if stream && endpoint.wants_stream_usage_option() {
        let options = doc
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(options) = options
            && options.get("include_usage") != Some(&Value::Bool(true))
        {
            options.insert("include_usage".into(), Value::Bool(true));
            changed = true;
        }
    }
    let model = doc.get("model").and_then(Value::as_str).map(str::to_owned);
    let bytes = if changed {
        // Serialising a parsed JSON value cannot fail.
        Bytes::from(serde_json::to_vec(&doc).map_err(|_| BodyRejected("unserialisable body"))?)
    } else {
        body
    };
    Ok(PreparedBody {
        bytes,
        model,
        stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(bytes: &Bytes) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn route_model_replaces_the_callers() {
        let body = Bytes::from_static(br#"{"model":"caller-model","messages":[]}"#);
        let out = prepare(ApiEndpoint::ChatCompletions, body, Some("route-model")).unwrap();
        assert_eq!(json(&out.bytes)["model"], "route-model");
        assert_eq!(out.model.as_deref(), Some("route-model"));
        assert!(!out.stream);
    }

    #[test]
    fn untouched_bodies_keep_their_bytes() {
        let body = Bytes::from_static(b"{\"model\":\"m\",  \"input\":\"x\"}");
        let out = prepare(ApiEndpoint::Embeddings, body.clone(), None).unwrap();
        assert_eq!(out.bytes, body);
        let out = prepare(ApiEndpoint::Embeddings, body.clone(), Some("m")).unwrap();
        assert_eq!(out.bytes, body);
    }

    #[test]
    fn openai_streams_ask_for_usage_and_anthropic_streams_are_left_alone() {
        let body = Bytes::from_static(br#"{"model":"m","stream":true,"stream_options":{"x":1}}"#);
        let out = prepare(ApiEndpoint::ChatCompletions, body, None).unwrap();
        assert!(out.stream);
        let doc = json(&out.bytes);
        assert_eq!(doc["stream_options"]["include_usage"], true);
        assert_eq!(doc["stream_options"]["x"], 1);

        let body = Bytes::from_static(br#"{"model":"m","stream":true}"#);
        let out = prepare(ApiEndpoint::Messages, body.clone(), None).unwrap();
        assert!(out.stream);
        assert_eq!(out.bytes, body);
    }

    #[test]
    fn non_json_bodies_are_rejected_and_models_get_passes() {
        assert!(
            prepare(
                ApiEndpoint::ChatCompletions,
                Bytes::from_static(b"nope"),
                None
            )
            .is_err()
        );
        assert!(
            prepare(
                ApiEndpoint::ChatCompletions,
                Bytes::from_static(b"[1]"),
                None
            )
            .is_err()
        );
        let out = prepare(ApiEndpoint::Models, Bytes::new(), Some("m")).unwrap();
        assert!(out.bytes.is_empty());
    }
}
