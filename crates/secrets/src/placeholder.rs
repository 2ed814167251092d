//! Credential placeholders: what the sandbox gets instead of a real secret.
//!
//! `cordon create ... --secret GITHUB_TOKEN=github` sets `GITHUB_TOKEN` inside the
//! sandbox to an opaque, random [`Placeholder`] (`cordon-placeholder-<32 hex>`). The
//! agent uses it like a real token; the proxy swaps it for the real value only on
//! inspected requests to endpoints bound to that credential (see `substitute`).
//! Every placeholder starts with [`PLACEHOLDER_PREFIX`], so one fast substring search
//! ([`contains_placeholder`]) finds any of them — even one this sandbox did not issue —
//! and the proxy can refuse instead of letting a placeholder reach the network.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use base64::Engine;
use http::HeaderMap;
use memchr::memmem::Finder;

use crate::{SecretsError, validate_name};

/// The fixed start of every placeholder.
pub const PLACEHOLDER_PREFIX: &str = "cordon-placeholder-";
/// Lower-case hex characters after the prefix: 128 random bits, unguessable.
pub const PLACEHOLDER_TOKEN_HEX: usize = 32;
/// Total length of a placeholder.
pub const PLACEHOLDER_LEN: usize = PLACEHOLDER_PREFIX.len() + PLACEHOLDER_TOKEN_HEX;

static PREFIX_FINDER: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(PLACEHOLDER_PREFIX.as_bytes()));

/// An opaque stand-in for a secret. Not secret itself: it may appear in the sandbox's
/// environment and files, and is useless anywhere but through cordon's proxy.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Placeholder(String);

impl Placeholder {
    /// A fresh random placeholder.
    pub fn generate() -> Result<Placeholder, SecretsError> {
        let mut bytes = [0u8; PLACEHOLDER_TOKEN_HEX / 2];
        getrandom::fill(&mut bytes).map_err(|e| SecretsError::Random(e.to_string()))?;
        Ok(Placeholder(format!(
            "{PLACEHOLDER_PREFIX}{}",
            hex::encode(bytes)
        )))
    }

    /// Re-creates a placeholder issued earlier (restored from a sandbox's state), after
    /// checking its shape.
    pub fn parse(text: &str) -> Result<Placeholder, SecretsError> {
        if is_well_formed(text.as_bytes()) && text.len() == PLACEHOLDER_LEN {
            Ok(Placeholder(text.to_owned()))
        } else {
            Err(SecretsError::InvalidSecret("not a cordon placeholder"))
        }
    }

    /// The value the sandbox sees.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `bytes` starts with a complete, well-formed placeholder.
pub(crate) fn is_well_formed(bytes: &[u8]) -> bool {
    bytes.len() >= PLACEHOLDER_LEN
        && bytes.starts_with(PLACEHOLDER_PREFIX.as_bytes())
        && bytes[PLACEHOLDER_PREFIX.len()..PLACEHOLDER_LEN]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// Where the first placeholder prefix starts in `bytes` (SIMD substring search).
pub fn find_placeholder(bytes: &[u8]) -> Option<usize> {
    PREFIX_FINDER.find(bytes)
}

/// Whether `bytes` contains anything that looks like a cordon placeholder.
pub fn contains_placeholder(bytes: &[u8]) -> bool {
    find_placeholder(bytes).is_some()
}

/// Finds a placeholder prefix in a byte stream that arrives in pieces (a request body
/// relayed frame by frame): each piece is searched together with the end of the
/// previous one, so a prefix split across two frames is still found. Only the last
/// `PLACEHOLDER_PREFIX.len() - 1` bytes are kept.
#[derive(Debug, Default, Clone)]
pub struct PlaceholderScanner {
    tail: Vec<u8>,
}

impl PlaceholderScanner {
    /// A scanner that has seen nothing.
    pub fn new() -> PlaceholderScanner {
        PlaceholderScanner::default()
    }

    /// Whether the stream so far, ending with `chunk`, contains a placeholder prefix
    /// that ends inside `chunk` or earlier.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        let keep = PLACEHOLDER_PREFIX.len() - 1;
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        let found = contains_placeholder(&window);
        let start = window.len().saturating_sub(keep);
        window.drain(..start);
        self.tail = window;
        found
    }
}

/// Whether any header value carries a placeholder, directly or inside
/// `Basic base64(user:password)` credentials (git puts tokens there).
pub fn headers_contain_placeholder(headers: &HeaderMap) -> bool {
    headers.values().any(|value| {
        let bytes = value.as_bytes();
        contains_placeholder(bytes) || decode_basic(bytes).is_some_and(|d| contains_placeholder(&d))
    })
}

/// The decoded credentials of a `Basic ...` header value, if it is one.
pub(crate) fn decode_basic(value: &[u8]) -> Option<Vec<u8>> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let encoded = value[6..].trim_ascii();
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

/// One `--secret ENV=PROVIDER`: which variable holds which credential's placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderBinding {
    /// Environment variable set inside the sandbox.
    pub env: String,
    /// Name of the stored credential (provider) the placeholder stands for.
    pub provider: String,
    /// The value the variable holds.
    pub placeholder: Placeholder,
}

/// Parses `ENV_NAME=PROVIDER` as given to `--secret`.
pub fn parse_secret_spec(spec: &str) -> Result<(String, String), SecretsError> {
    let (env, provider) = spec.split_once('=').ok_or(SecretsError::InvalidSecret(
        "--secret needs ENV_NAME=PROVIDER",
    ))?;
    validate_env_name(env)?;
    validate_name(provider)?;
    Ok((env.to_owned(), provider.to_owned()))
}

fn validate_env_name(env: &str) -> Result<(), SecretsError> {
    let mut chars = env.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SecretsError::InvalidSecret(
            "the environment variable name must match [A-Za-z_][A-Za-z0-9_]*",
        ))
    }
}

/// The placeholders issued to one sandbox.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    bindings: Vec<PlaceholderBinding>,
    by_token: HashMap<String, usize>,
}

impl Placeholders {
    /// No placeholders.
    pub fn new() -> Placeholders {
        Placeholders::default()
    }

    /// Issues a fresh placeholder for `env` standing for credential `provider`. Issuing
    /// the same variable twice replaces the earlier binding (the last `--secret` wins).
    pub fn issue(&mut self, env: &str, provider: &str) -> Result<&Placeholder, SecretsError> {
        let placeholder = Placeholder::generate()?;
        self.insert(PlaceholderBinding {
            env: env.to_owned(),
            provider: provider.to_owned(),
            placeholder,
        })
    }

    /// Restores a binding issued earlier (a restarted named sandbox keeps its values).
    pub fn insert(&mut self, binding: PlaceholderBinding) -> Result<&Placeholder, SecretsError> {
        validate_env_name(&binding.env)?;
        validate_name(&binding.provider)?;
        if let Some(i) = self.bindings.iter().position(|b| b.env == binding.env) {
            let old = self.bindings.remove(i);
            self.by_token.remove(old.placeholder.as_str());
            self.reindex();
        }
        self.bindings.push(binding);
        self.reindex();
        let last = self.bindings.len() - 1;
        Ok(&self.bindings[last].placeholder)
    }

    fn reindex(&mut self) {
        self.by_token = self
            .bindings
            .iter()
            .enumerate()
            .map(|(i, b)| (b.placeholder.as_str().to_owned(), i))
            .collect();
    }

    /// Every binding, in issue order.
    pub fn bindings(&self) -> &[PlaceholderBinding] {
        &self.bindings
    }

    /// `(ENV, placeholder)` pairs for the sandbox's environment.
    pub fn env_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.bindings
            .iter()
            .map(|b| (b.env.as_str(), b.placeholder.as_str()))
    }

    /// The binding of a complete placeholder string.
    pub fn lookup(&self, placeholder: &[u8]) -> Option<&PlaceholderBinding> {
        let text = std::str::from_utf8(placeholder).ok()?;
        self.by_token.get(text).map(|&i| &self.bindings[i])
    }

    /// Whether none were issued.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn generated_placeholders_are_well_formed_and_distinct() {
        let a = Placeholder::generate().unwrap();
        let b = Placeholder::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), PLACEHOLDER_LEN);
        assert!(is_well_formed(a.as_str().as_bytes()));
        assert_eq!(Placeholder::parse(a.as_str()).unwrap(), a);
        assert!(Placeholder::parse("cordon-placeholder-XYZ").is_err());
    }

    #[test]
    fn detector_finds_direct_and_basic_auth_placeholders() {
        let p = Placeholder::generate().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-other", HeaderValue::from_static("nothing"));
        assert!(!headers_contain_placeholder(&headers));
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("x-access-token:{}", p.as_str()));
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
        );
        assert!(headers_contain_placeholder(&headers));
        headers.remove("authorization");
        headers.insert(
            "x-api-key",
            HeaderValue::from_str(&format!("token {}", p.as_str())).unwrap(),
        );
        assert!(headers_contain_placeholder(&headers));
    }

    #[test]
    fn the_scanner_finds_a_prefix_split_across_pieces() {
        let text = format!(
            "{{\"token\":\"{}\"}}",
            Placeholder::generate().unwrap().as_str()
        );
        for split in 0..text.len() {
            let mut scanner = PlaceholderScanner::new();
            let (a, b) = text.as_bytes().split_at(split);
            assert!(scanner.feed(a) || scanner.feed(b), "split at {split}");
        }
        let mut clean = PlaceholderScanner::new();
        assert!(!clean.feed(b"cordon-place") && !clean.feed(b"bo nothing"));
    }

    #[test]
    fn secret_specs_are_checked() {
        assert_eq!(
            parse_secret_spec("GITHUB_TOKEN=github").unwrap(),
            ("GITHUB_TOKEN".into(), "github".into())
        );
        for bad in ["NOEQUALS", "1X=github", "X=Bad Name", "=github", "X="] {
            assert!(parse_secret_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reissuing_a_variable_replaces_its_binding() {
        let mut set = Placeholders::new();
        let first = set.issue("TOKEN", "github").unwrap().clone();
        let second = set.issue("TOKEN", "gitlab").unwrap().clone();
        assert_eq!(set.bindings().len(), 1);
        assert!(set.lookup(first.as_str().as_bytes()).is_none());
        assert_eq!(
            set.lookup(second.as_str().as_bytes()).unwrap().provider,
            "gitlab"
        );
    }
}
