//! Swapping placeholders for real values, only where policy binds the credential.
//!
//! The proxy calls [`Substitutor::apply_to_headers`] on every inspected request, with
//! the provider named by the matched endpoint's `credential_binding` (or `None`).
//! Every placeholder found must belong to that provider; if even one does not (another
//! credential, no binding, an unknown placeholder, one in the URL), nothing is changed
//! and a [`PlaceholderRefusal`] comes back: the proxy answers 403, audits the refusal,
//! and the placeholder never reaches the network. All-or-nothing, checked before any
//! byte is rewritten. Rewritten header values are marked sensitive, so `http`'s
//! `Debug` prints `Sensitive` instead of the value.

use std::collections::HashMap;

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::placeholder::{PLACEHOLDER_LEN, decode_basic, find_placeholder, is_well_formed};
use crate::{Placeholders, SecretValue};

/// Why a request carrying a placeholder must not leave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderRefusal {
    /// The endpoint has no `credential_binding`.
    #[error(
        "the placeholder in ${env} stands for credential `{provider}`, and this endpoint has no credential_binding"
    )]
    NotBound {
        /// Variable the placeholder was issued in.
        env: String,
        /// Credential it stands for.
        provider: String,
    },
    /// The endpoint binds a different credential.
    #[error(
        "the placeholder in ${env} stands for credential `{provider}`, but this endpoint is bound to `{bound}`"
    )]
    WrongProvider {
        /// Variable the placeholder was issued in.
        env: String,
        /// Credential it stands for.
        provider: String,
        /// Credential the endpoint binds.
        bound: String,
    },
    /// Something shaped like a placeholder that this sandbox did not issue.
    #[error("the request carries a cordon placeholder this sandbox was not given")]
    Unknown,
    /// A placeholder in the request target: URLs are logged and cached along the way,
    /// so cordon never substitutes there.
    #[error("the request URL carries a cordon placeholder; send credentials in a header")]
    InUrl,
    /// A placeholder in a request body where bodies are not substituted (the endpoint
    /// binds no credential, another one, or did not opt in with `json_body: true`).
    #[error(
        "the request body carries the placeholder in ${env} (credential `{provider}`), and this endpoint does not substitute bodies"
    )]
    InBody {
        /// Variable the placeholder was issued in.
        env: String,
        /// Credential it stands for.
        provider: String,
    },
    /// The binding is right but the credential is missing from the store.
    #[error("credential `{provider}` is not stored (cordon provider create {provider} ...)")]
    MissingSecret {
        /// Credential name.
        provider: String,
    },
}

impl PlaceholderRefusal {
    /// What the operator can change to allow the request, for the 403 body.
    pub fn hint(&self) -> String {
        match self {
            PlaceholderRefusal::NotBound { provider, .. }
            | PlaceholderRefusal::WrongProvider { provider, .. } => format!(
                "if this host should receive `{provider}`, add `credential_binding: {{provider: {provider}}}` to its endpoint (protocol: rest)"
            ),
            PlaceholderRefusal::Unknown => {
                "use the value cordon set in the sandbox's environment".to_owned()
            }
            PlaceholderRefusal::InUrl => {
                "move the token to a header (Authorization, x-api-key)".to_owned()
            }
            PlaceholderRefusal::InBody { provider, .. } => format!(
                "send the credential in a header, or opt in to body substitution on an endpoint binding it: `credential_binding: {{provider: {provider}, json_body: true}}` (protocol: rest)"
            ),
            PlaceholderRefusal::MissingSecret { provider } => {
                format!("store it with `cordon provider create {provider} ...`")
            }
        }
    }
}

/// What a successful substitution did (for the audit line: names, never values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Substituted {
    /// Placeholders replaced.
    pub count: usize,
}

/// A sandbox's placeholders together with the real values they stand for.
#[derive(Debug, Clone, Default)]
pub struct Substitutor {
    placeholders: Placeholders,
    secrets: HashMap<String, SecretValue>,
}

impl Substitutor {
    /// `secrets` maps credential (provider) names to values; the supervisor loads the
    /// ones the placeholders name from the [`crate::CredentialStore`].
    pub fn new(placeholders: Placeholders, secrets: HashMap<String, SecretValue>) -> Substitutor {
        Substitutor {
            placeholders,
            secrets,
        }
    }

    /// The placeholders (for the sandbox's environment).
    pub fn placeholders(&self) -> &Placeholders {
        &self.placeholders
    }

    /// Refuses a request target (path and query) that carries a placeholder.
    pub fn check_target(&self, path_and_query: &str) -> Result<(), PlaceholderRefusal> {
        if find_placeholder(path_and_query.as_bytes()).is_some() {
            return Err(PlaceholderRefusal::InUrl);
        }
        // Percent-encoded forms hide the prefix from the raw search.
        if path_and_query.contains('%') {
            let decoded = percent_decode(path_and_query.as_bytes());
            if find_placeholder(&decoded).is_some() {
                return Err(PlaceholderRefusal::InUrl);
            }
        }
        Ok(())
    }

    /// Replaces every placeholder in `headers` (directly, or inside Basic credentials)
    /// with the real value of `bound`, or changes nothing and refuses.
    pub fn apply_to_headers(
        &self,
        headers: &mut HeaderMap,
        bound: Option<&str>,
    ) -> Result<Substituted, PlaceholderRefusal> {
        let mut rewrites: Vec<(usize, HeaderValue)> = Vec::new();
        let mut count = 0;
        for (index, value) in headers.values().enumerate() {
            let raw = value.as_bytes();
            if find_placeholder(raw).is_some() {
                let (bytes, n) = self.replace(raw, bound, Escape::None)?;
                rewrites.push((index, sensitive(&bytes)?));
                count += n;
            } else if let Some(decoded) = decode_basic(raw)
                && find_placeholder(&decoded).is_some()
            {
                let (bytes, n) = self.replace(&decoded, bound, Escape::None)?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                rewrites.push((index, sensitive(format!("Basic {encoded}").as_bytes())?));
                count += n;
            }
        }
        if rewrites.is_empty() {
            return Ok(Substituted::default());
        }
        // Rebuild in order so repeated header names keep their order.
        let old = std::mem::take(headers);
        let mut rewrites = rewrites.into_iter().peekable();
        let mut current: Option<HeaderName> = None;
        for (index, (name, value)) in old.into_iter().enumerate() {
            if let Some(name) = name {
                current = Some(name);
            }
            let Some(name) = current.clone() else {
                continue;
            };
            let value = match rewrites.peek() {
                Some((i, _)) if *i == index => rewrites.next().map_or(value, |(_, v)| v),
                _ => value,
            };
            headers.append(name, value);
        }
        Ok(Substituted { count })
    }

    /// Opt-in body substitution: replaces placeholders inside a JSON body with the
    /// JSON-escaped real value. `Ok(None)` when the body holds no placeholder.
    pub fn apply_to_json_body(
        &self,
        body: &[u8],
        bound: Option<&str>,
    ) -> Result<Option<(Vec<u8>, Substituted)>, PlaceholderRefusal> {
        if find_placeholder(body).is_none() {
            return Ok(None);
        }
        let (bytes, count) = self.replace(body, bound, Escape::Json)?;
        Ok(Some((bytes, Substituted { count })))
    }

    /// Refuses a request body (or a piece of one) that carries a placeholder, for
    /// requests whose bodies are relayed as they are.
    pub fn check_body(&self, body: &[u8]) -> Result<(), PlaceholderRefusal> {
        let Some(at) = find_placeholder(body) else {
            return Ok(());
        };
        let candidate = &body[at..];
        let binding = is_well_formed(candidate)
            .then(|| self.placeholders.lookup(&candidate[..PLACEHOLDER_LEN]))
            .flatten()
            .ok_or(PlaceholderRefusal::Unknown)?;
        Err(PlaceholderRefusal::InBody {
            env: binding.env.clone(),
            provider: binding.provider.clone(),
        })
    }

    /// Whether no placeholder was issued (a request may still carry a forged one).
    pub fn is_empty(&self) -> bool {
        self.placeholders.is_empty()
    }

    /// Replaces every placeholder in `input`, or refuses on the first one that is not
    /// permitted. Returns the new bytes and the number replaced.
    fn replace(
        &self,
        input: &[u8],
        bound: Option<&str>,
        escape: Escape,
    ) -> Result<(Vec<u8>, usize), PlaceholderRefusal> {
        let mut out = Vec::with_capacity(input.len() + 64);
        let mut rest = input;
        let mut count = 0;
        while let Some(at) = find_placeholder(rest) {
            out.extend_from_slice(&rest[..at]);
            let candidate = &rest[at..];
            if !is_well_formed(candidate) {
                return Err(PlaceholderRefusal::Unknown);
            }
            let token = &candidate[..PLACEHOLDER_LEN];
            let binding = self
                .placeholders
                .lookup(token)
                .ok_or(PlaceholderRefusal::Unknown)?;
            match bound {
                None => {
                    return Err(PlaceholderRefusal::NotBound {
                        env: binding.env.clone(),
                        provider: binding.provider.clone(),
                    });
                }
                Some(bound) if bound != binding.provider => {
                    return Err(PlaceholderRefusal::WrongProvider {
                        env: binding.env.clone(),
                        provider: binding.provider.clone(),
                        bound: bound.to_owned(),
                    });
                }
                Some(_) => {}
            }
            let secret = self.secrets.get(&binding.provider).ok_or_else(|| {
                PlaceholderRefusal::MissingSecret {
                    provider: binding.provider.clone(),
                }
            })?;
            escape.push(&mut out, secret.expose_secret());
            count += 1;
            rest = &candidate[PLACEHOLDER_LEN..];
        }
        out.extend_from_slice(rest);
        Ok((out, count))
    }
}

/// How a real value is written where the placeholder was.
#[derive(Clone, Copy)]
enum Escape {
    /// Verbatim (header values; [`SecretValue`] guarantees header-safe characters).
    None,
    /// Inside a JSON string: `"` and `\` escaped.
    Json,
}

impl Escape {
    fn push(self, out: &mut Vec<u8>, value: &str) {
        match self {
            Escape::None => out.extend_from_slice(value.as_bytes()),
            Escape::Json => {
                for b in value.bytes() {
                    if b == b'"' || b == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
            }
        }
    }
}

fn sensitive(bytes: &[u8]) -> Result<HeaderValue, PlaceholderRefusal> {
    // Cannot fail: the input was a valid header value and secrets are header-safe.
    // Refuse rather than panic if that ever stops being true.
    let mut value = HeaderValue::from_bytes(bytes).map_err(|_| PlaceholderRefusal::Unknown)?;
    value.set_sensitive(true);
    Ok(value)
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
#[path = "substitute_tests.rs"]
mod tests;
