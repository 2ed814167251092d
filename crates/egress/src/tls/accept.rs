//! Terminating the client's TLS inside an allowed CONNECT tunnel: read the
//! ClientHello, check its server name against the CONNECT target, present a leaf
//! minted for that host, finish the handshake.
//!
//! Why SNI must equal the CONNECT target: the policy decided the target; a client
//! naming another host in SNI is asking the upstream (through us) for a different
//! site than the one that was allowed (domain fronting). A ClientHello without SNI
//! is accepted (IP-literal targets, old clients) and gets a leaf for the target.

use std::io;
use std::sync::Arc;

use rustls::AlertDescription;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::mint::normalize_host;
use super::{LeafCache, TlsError};

/// A finished server-side handshake.
#[derive(Debug)]
pub struct Accepted<S> {
    /// The decrypted stream to parse HTTP on.
    pub stream: TlsStream<S>,
    /// The server name the client sent, normalised (`None` = no SNI).
    pub sni: Option<String>,
}

/// Why a client's TLS was not terminated. Each becomes an audit line; the client
/// just sees the connection close (or the alert rustls sent).
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// SNI names another host than the CONNECT target.
    #[error("TLS server name `{sni}` does not match the CONNECT target `{target}`")]
    SniMismatch {
        /// What the ClientHello asked for.
        sni: String,
        /// What CONNECT asked for (and the policy allowed).
        target: String,
    },
    /// No leaf could be minted for the target.
    #[error("{0}")]
    Mint(#[from] TlsError),
    /// The client refused the minted certificate: it pins its own CA or does not
    /// trust the sandbox bundle.
    #[error(
        "the client rejected the sandbox certificate for {host} (TLS alert: {alert}); it pins its own CA or does not use the sandbox trust bundle"
    )]
    ClientRejectedCertificate {
        /// The target host.
        host: String,
        /// The alert it sent (`UnknownCA`, `BadCertificate`, ...).
        alert: String,
    },
    /// Anything else that ended the handshake (not TLS, wrong protocol version, no
    /// shared ALPN protocol, connection closed).
    #[error("TLS handshake with the client failed: {0}")]
    Handshake(io::Error),
}

/// Terminates client TLS with leaves from a [`LeafCache`].
#[derive(Debug, Clone)]
pub struct TlsTerminator {
    leaves: Arc<LeafCache>,
}

impl TlsTerminator {
    /// A terminator minting from `leaves`.
    pub fn new(leaves: Arc<LeafCache>) -> TlsTerminator {
        TlsTerminator { leaves }
    }

    /// The leaf cache (and through it the CA).
    pub fn leaves(&self) -> &Arc<LeafCache> {
        &self.leaves
    }

    /// Runs the server side of the handshake on `io` for a tunnel to `target_host`.
    /// The caller bounds the whole call with a timeout.
    pub async fn accept<S>(&self, io: S, target_host: &str) -> Result<Accepted<S>, AcceptError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let target = normalize_host(target_host);
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io)
            .await
            .map_err(AcceptError::Handshake)?;
        let sni = start.client_hello().server_name().map(normalize_host);
        if let Some(sni) = &sni
            && *sni != target
        {
            return Err(AcceptError::SniMismatch {
                sni: sni.clone(),
                target,
            });
        }
        let config = self.leaves.server_config(&target)?;
        let stream = start
            .into_stream(config)
            .await
            .map_err(|err| classify_handshake_error(err, &target))?;
        Ok(Accepted { stream, sni })
    }
}

/// Turns the alerts a client sends when it does not trust our leaf into
/// [`AcceptError::ClientRejectedCertificate`].
fn classify_handshake_error(err: io::Error, host: &str) -> AcceptError {
    let alert = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::AlertReceived(alert) => Some(*alert),
            _ => None,
        });
    match alert {
        Some(
            alert @ (AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError),
        ) => AcceptError::ClientRejectedCertificate {
            host: host.to_owned(),
            alert: format!("{alert:?}"),
        },
        _ => AcceptError::Handshake(err),
    }
}

#[cfg(test)]
#[path = "accept_tests.rs"]
mod tests;
