//! The egress layer's errors: what failed while starting, reloading or watching.
//! Per-connection failures are not errors of the proxy; they become responses and
//! audit lines.

use std::path::PathBuf;

/// Errors of cordon-egress.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The listener handed over could not be used with tokio.
    #[error("cannot serve the proxy listener: {0}")]
    Listener(std::io::Error),
    /// The system resolver configuration could not be read.
    #[error("cannot set up DNS resolution from /etc/resolv.conf: {0}")]
    Resolver(String),
    /// A `--add-host` value was malformed.
    #[error(
        "invalid host mapping `{value}`: {message} (expected NAME:IP, e.g. api.test:127.0.0.1)"
    )]
    HostMapping {
        /// What was given.
        value: String,
        /// What is wrong with it.
        message: String,
    },
    /// The policy file watcher could not be started.
    #[error("cannot watch policy file {path}: {message}")]
    Watch {
        /// The policy file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A reload was refused; the previous policy generation stays in force.
    #[error("{0}")]
    Reload(#[from] ReloadError),
}

/// Why a policy reload was refused. Display is the full message for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new policy does not parse, validate or compile.
    #[error("policy rejected, previous policy still in force:\n{0}")]
    Invalid(String),
    /// Sections that cannot change on a running sandbox differ.
    #[error(
        "policy rejected, previous policy still in force: {} changed; these sections need a sandbox restart (only network_policies, network_settings and inference reload live)",
        .0.join(", ")
    )]
    StaticSectionsChanged(Vec<&'static str>),
}
