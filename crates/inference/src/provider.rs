//! Provider types: what each kind of inference API expects (base URL, how the key is
//! sent), and [`BaseUrl`], the parsed upstream address requests are forwarded to.

use std::fmt;
use std::str::FromStr;

use http::Uri;
use serde::{Deserialize, Serialize};

use crate::InferenceError;

/// The API families cordon knows how to authenticate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// api.openai.com: `Authorization: Bearer`.
    #[serde(rename = "openai")]
    OpenAi,
    /// api.anthropic.com: `x-api-key` + `anthropic-version`.
    Anthropic,
    /// NVIDIA's hosted NIM endpoints (OpenAI-compatible): `Authorization: Bearer`.
    Nvidia,
    /// A local Ollama server's OpenAI-compatible API; a key is optional.
    Ollama,
    /// Any OpenAI-compatible server (vLLM, LM Studio, a gateway); needs `--base-url`.
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    /// A credential for another service (GitHub, a SaaS API), used only through
    /// placeholders and `credential_binding`; never an inference route.
    Generic,
}

/// How the provider's key travels in the upstream request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// `x-api-key: KEY` plus `anthropic-version` when the caller sent none.
    AnthropicKey,
}

/// The `anthropic-version` sent when the caller did not choose one.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

impl ProviderKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Nvidia,
        ProviderKind::Ollama,
        ProviderKind::OpenAiCompatible,
        ProviderKind::Generic,
    ];

    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Nvidia => "nvidia",
            ProviderKind::Ollama => "ollama",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Generic => "generic",
        }
    }

    /// The API root used when `--base-url` is not given (`None`: it must be given, or,
    /// for `generic`, there is none).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com/v1"),
            ProviderKind::Nvidia => Some("https://integrate.api.nvidia.com/v1"),
            ProviderKind::Ollama => Some("http://127.0.0.1:11434/v1"),
            ProviderKind::OpenAiCompatible | ProviderKind::Generic => None,
        }
    }

    /// A model to name when the operator chose none (an agent whose configuration must
    /// name one, `cordon onboard --non-interactive` without `--model`): a small, widely
    /// available model of the provider. `None` where the server decides what exists.
    pub fn suggested_model(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("gpt-4o-mini"),
            ProviderKind::Anthropic => Some("claude-3-5-haiku-latest"),
            ProviderKind::Nvidia => Some("meta/llama-3.1-8b-instruct"),
            ProviderKind::Ollama => Some("llama3.2"),
            ProviderKind::OpenAiCompatible | ProviderKind::Generic => None,
        }
    }

    /// How the key is sent.
    pub fn auth_style(self) -> AuthStyle {
        match self {
            ProviderKind::Anthropic => AuthStyle::AnthropicKey,
            _ => AuthStyle::Bearer,
        }
    }

    /// Whether `--no-key` makes sense: only servers commonly run without auth.
    pub fn key_optional(self) -> bool {
        matches!(self, ProviderKind::Ollama | ProviderKind::OpenAiCompatible)
    }

    /// Whether requests to `inference.local` may be routed to this provider.
    pub fn routable(self) -> bool {
        self != ProviderKind::Generic
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = InferenceError;

    fn from_str(s: &str) -> Result<ProviderKind, InferenceError> {
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| InferenceError::InvalidProvider(format!("unknown provider type `{s}`")))
    }
}

/// A provider's API root: `scheme://host[:port][/path]`, where the path is the
/// prefix that replaces the caller's `/v1` (e.g. `https://api.openai.com/v1`,
/// `https://gateway.example/openai/v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

impl BaseUrl {
    /// Parses and normalises: `http` or `https` only, no credentials, query or
    /// fragment; a trailing `/` is dropped; an empty path becomes `/v1` (so
    /// `http://127.0.0.1:11434` and `http://127.0.0.1:11434/v1` mean the same).
    pub fn parse(text: &str) -> Result<BaseUrl, InferenceError> {
        let bad = |why: &str| InferenceError::InvalidProvider(format!("base URL `{text}` {why}"));
        let uri: Uri = text.parse().map_err(|_| bad("is not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "must not contain credentials (use --key-env or --key-file)",
            ));
        }
        if uri.query().is_some() || text.contains('#') {
            return Err(bad("must not have a query or fragment"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        // `port_u16` is `None` both without a port and for one that does not fit in
        // 16 bits: read the text after the host, or `:99999` would silently become the
        // default port.
        let raw = authority.as_str();
        let after_host = match raw.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once(']').map_or("", |(_, rest)| rest),
            None => raw.rsplit_once(':').map_or("", |(_, port)| port),
        };
        let written = after_host.strip_prefix(':').unwrap_or(after_host);
        let port = match (written.is_empty(), authority.port_u16()) {
            (true, _) if tls => 443,
            (true, _) => 80,
            (false, Some(port)) if port > 0 => port,
            (false, _) => return Err(bad(&format!("has an invalid port `{written}`"))),
        };
        let mut path = uri.path().trim_end_matches('/').to_owned();
        if path.is_empty() {
            path = "/v1".to_owned();
        }
        Ok(BaseUrl {
            tls,
            host,
            port,
            path,
        })
    }

    /// Whether the upstream speaks TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// Host name or IP literal (without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path prefix, without trailing slash (e.g. `/v1`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The upstream request target for a caller suffix such as `/chat/completions`.
    pub fn target(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.path)
    }

    /// The `Host` header value: the port is omitted when it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("gpt".parse::<ProviderKind>().is_err());
    }

    #[test]
    fn base_urls_are_normalised() {
        let url = BaseUrl::parse("http://127.0.0.1:11434").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:11434/v1");
        assert_eq!(url.target("/chat/completions"), "/v1/chat/completions");
        let url = BaseUrl::parse("https://API.openai.com/v1/").unwrap();
        assert_eq!(url.to_string(), "https://api.openai.com/v1");
        assert_eq!((url.port(), url.tls()), (443, true));
        let url = BaseUrl::parse("https://gw.example/openai/v1").unwrap();
        assert_eq!(url.target("/models"), "/openai/v1/models");
        let url = BaseUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!(url.host(), "::1");
        assert_eq!(url.host_header(), "[::1]:8080");
        for kind in ProviderKind::ALL {
            if let Some(default) = kind.default_base_url() {
                assert_eq!(BaseUrl::parse(default).unwrap().to_string(), default);
            }
        }
    }

    #[test]
    fn unsafe_or_odd_base_urls_are_refused() {
        for bad in [
            "ftp://x",
            "api.openai.com",
            "https://user:pw@x/v1",
            "https://x/v1?key=1",
            "https://x/v1#f",
            "http://h:99999/v1",
            "http://h:0",
            "http://[::1]:70000",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
        // The allowed twins: the highest port, and IPv6 with and without one.
        assert_eq!(BaseUrl::parse("http://h:65535/v1").unwrap().port, 65535);
        assert_eq!(BaseUrl::parse("http://[::1]").unwrap().port, 80);
        assert_eq!(BaseUrl::parse("https://[::1]:8443").unwrap().port, 8443);
    }
}
