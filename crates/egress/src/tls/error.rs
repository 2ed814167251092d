//! Errors of the TLS layer: CA files, minting, trust bundles. Per-connection
//! handshake failures have their own types ([`super::AcceptError`],
//! [`super::UpstreamError`]) because they become responses and audit lines, not
//! errors of the proxy.

use std::path::PathBuf;

/// What failed while preparing TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating a key or signing a certificate failed.
    #[error("cannot mint {what}: {message}")]
    Mint {
        /// `sandbox CA`, `leaf certificate for HOST`, ...
        what: String,
        /// rcgen's or rustls's message.
        message: String,
    },
    /// A CA file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// `cannot read`, `cannot write`, ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A CA file exists but its content is not what cordon wrote.
    #[error("invalid CA file {path}: {message}")]
    InvalidCa {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The CA key file is readable by others than its owner.
    #[error(
        "CA key {path} has mode {mode:o}; it must be readable only by its owner (chmod 600 {path})"
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A host cannot be put in a certificate (not a DNS name or IP literal).
    #[error("cannot mint a certificate for `{0}`: not a valid DNS name or IP address")]
    InvalidHost(String),
    /// No root certificate could be found for verifying upstream servers.
    #[error("no trusted root certificates: {0}")]
    NoRoots(String),
    /// An extra CA given for upstream verification is not usable.
    #[error("invalid extra upstream CA: {0}")]
    ExtraCa(String),
}

impl TlsError {
    pub(crate) fn mint(what: impl Into<String>, err: impl std::fmt::Display) -> TlsError {
        TlsError::Mint {
            what: what.into(),
            message: err.to_string(),
        }
    }
}
