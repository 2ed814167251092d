//! Which headers cross the router, each way.
//!
//! Towards the provider, an allow-list: only headers an inference SDK needs for the
//! request's meaning pass (`content-type`, `accept`, `user-agent`, the Anthropic and
//! OpenAI protocol-version headers, SDK metadata). Everything else is dropped,
//! credentials above all: `Authorization`, `x-api-key`, `api-key`, `Cookie`,
//! `Proxy-Authorization`, and also headers that pair with a key
//! (`OpenAI-Organization`, `OpenAI-Project`). The provider's key is then added in the
//! provider's style, marked sensitive so no `Debug` of the request can print it.
//! `accept-encoding: identity` is forced so usage can be read from the body.
//!
//! Towards the agent, hop-by-hop headers and `Set-Cookie` are dropped; the rest
//! (content type, request ids, rate-limit headers) passes.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::provider::{AuthStyle, DEFAULT_ANTHROPIC_VERSION};
use cordon_secrets::SecretValue;

/// Request headers forwarded as they are.
const FORWARDED: [&str; 7] = [
    "content-type",
    "accept",
    "user-agent",
    "anthropic-version",
    "anthropic-beta",
    "openai-beta",
    "idempotency-key",
];

/// Request header prefixes forwarded (OpenAI/Anthropic SDK metadata: language, OS,
/// retry count).
const FORWARDED_PREFIXES: [&str; 1] = ["x-stainless-"];

/// Response headers never relayed to the agent.
const DROPPED_RESPONSE: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "set-cookie",
];

/// Whether a caller's request header may go to the provider.
pub(crate) fn is_forwarded(name: &HeaderName) -> bool {
    let name = name.as_str();
    FORWARDED.contains(&name) || FORWARDED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The headers sent upstream: the allowed caller headers, then `Host`, the provider's
/// credentials, `accept-encoding: identity` and the body length.
pub(crate) fn upstream_headers(
    caller: &HeaderMap,
    host: &str,
    auth: AuthStyle,
    key: Option<&SecretValue>,
    body_len: usize,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(caller.len() + 4);
    for (name, value) in caller {
        if is_forwarded(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Ok(host) = HeaderValue::from_str(host) {
        out.insert(header::HOST, host);
    }
    if let Some(key) = key {
        let (name, value) = match auth {
            AuthStyle::Bearer => (
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {}", key.expose_secret())),
            ),
            AuthStyle::AnthropicKey => (
                HeaderName::from_static("x-api-key"),
                HeaderValue::from_str(key.expose_secret()),
            ),
        };
        // SecretValue only holds header-safe characters, so this cannot fail.
        if let Ok(mut value) = value {
            value.set_sensitive(true);
            out.insert(name, value);
        }
    }
    if auth == AuthStyle::AnthropicKey && !out.contains_key("anthropic-version") {
        out.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION),
        );
    }
    out.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    out
}

/// The provider's response headers minus hop-by-hop ones and cookies.
pub(crate) fn downstream_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if !DROPPED_RESPONSE.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer caller-key"),
            ("x-api-key", "caller-key"),
            ("api-key", "caller-key"),
            ("cookie", "session=1"),
            ("proxy-authorization", "Basic abc"),
            ("openai-organization", "org-caller"),
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
            ("x-stainless-lang", "python"),
            ("accept-encoding", "gzip"),
            ("x-custom", "anything"),
        ] {
            h.append(name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn caller_credentials_are_replaced_by_the_providers() {
        let key = SecretValue::new("sk-provider".into()).unwrap();
        let out = upstream_headers(&caller(), "api.example", AuthStyle::Bearer, Some(&key), 10);
        assert_eq!(out["authorization"], "Bearer sk-provider");
        assert!(out["authorization"].is_sensitive());
        for gone in [
            "x-api-key",
            "api-key",
            "cookie",
            "proxy-authorization",
            "openai-organization",
            "x-custom",
        ] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(out["accept-encoding"], "identity");
        assert_eq!(out["host"], "api.example");
        assert_eq!(out["content-length"], "10");
        assert_eq!(out["x-stainless-lang"], "python");
        assert!(!format!("{out:?}").contains("sk-provider"));
    }

    #[test]
    fn anthropic_style_sets_key_and_default_version() {
        let key = SecretValue::new("sk-ant".into()).unwrap();
        let out = upstream_headers(&caller(), "h", AuthStyle::AnthropicKey, Some(&key), 0);
        assert_eq!(out["x-api-key"], "sk-ant");
        assert!(!out.contains_key("authorization"));
        assert_eq!(out["anthropic-version"], DEFAULT_ANTHROPIC_VERSION);
        let mut with_version = caller();
        with_version.insert("anthropic-version", HeaderValue::from_static("2024-01-01"));
        let out = upstream_headers(&with_version, "h", AuthStyle::AnthropicKey, Some(&key), 0);
        assert_eq!(out["anthropic-version"], "2024-01-01");
    }

    #[test]
    fn no_key_means_no_auth_header_at_all() {
        let out = upstream_headers(&caller(), "h", AuthStyle::Bearer, None, 0);
        assert!(!out.contains_key("authorization"));
    }

    #[test]
    fn response_cookies_and_hop_headers_are_dropped() {
        let mut up = HeaderMap::new();
        up.insert("set-cookie", HeaderValue::from_static("__cf=1"));
        up.insert("connection", HeaderValue::from_static("close"));
        up.insert("x-request-id", HeaderValue::from_static("req_1"));
        let down = downstream_headers(&up);
        assert_eq!(down.len(), 1);
        assert_eq!(down["x-request-id"], "req_1");
    }
}
