//! [`InferenceError`]: why a provider could not be stored or resolved, or the router
//! could not be built. Request-time failures are HTTP answers, not errors (see
//! `respond`). No variant carries a key.

use cordon_secrets::SecretsError;

/// Every failure of this crate's setup paths.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// Bad input for a provider: unknown type, bad base URL, missing key source.
    #[error("{0}")]
    InvalidProvider(String),
    /// No provider of that name is stored.
    #[error("no provider named `{0}` (see `cordon provider list`)")]
    UnknownProvider(String),
    /// `create` of a name that exists, without `--replace`.
    #[error("provider `{0}` already exists (use --replace, or `cordon provider rm {0}` first)")]
    ProviderExists(String),
    /// The provider exists but cannot serve inference (a `generic` credential).
    #[error("provider `{0}` is a generic credential and cannot be an inference route")]
    NotRoutable(String),
    /// The provider record says it has a key, but the credential store has none.
    #[error(
        "the key of provider `{0}` is missing from the credential store; create the provider again"
    )]
    MissingKey(String),
    /// The credential store or configuration directory failed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The TLS client configuration could not be built (no roots, bad extra CA).
    #[error("upstream TLS: {0}")]
    Tls(String),
    /// The DNS resolver could not be built from the system configuration.
    #[error("DNS resolver: {0}")]
    Resolver(String),
}
