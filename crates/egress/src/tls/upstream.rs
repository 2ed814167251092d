//! The upstream side of an inspected connection: a TLS client that verifies the real
//! server against the system's roots (plus, for tests, one extra CA), and never
//! ignores a certificate error.
//!
//! Root choice: `rustls-native-certs` first, so corporate roots installed on the host
//! keep working; Mozilla's roots from `webpki-roots` only when the host has none.

use std::io;
use std::sync::{Arc, OnceLock};

use cordon_inference::LazyTls;

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{ALPN_HTTP1, TlsError};

/// Where the upstream roots came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootsSource {
    /// The host's trust store.
    System,
    /// Mozilla's roots compiled into cordon (the host had none).
    Bundled,
    /// Only the extra CA given (tests).
    ExtraOnly,
}

/// Verified TLS client configuration for upstream connections; cheap to clone. Built
/// from the system roots on the first upstream TLS connection (see [`LazyTls`]).
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    config: LazyTls,
    source: Arc<OnceLock<RootsSource>>,
}

/// Why an upstream TLS connection failed. Becomes a 502 and an audit line.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The host cannot be a TLS server name.
    #[error("`{0}` is not a valid TLS server name")]
    InvalidName(String),
    /// The server's certificate did not verify (untrusted issuer, wrong name,
    /// expired...). Never bypassed.
    #[error("the upstream certificate of {host} is not trusted: {reason}")]
    Certificate {
        /// The host dialled.
        host: String,
        /// rustls's verdict.
        reason: String,
    },
    /// The handshake failed for another reason (protocol, closed connection).
    #[error("TLS handshake with {host} failed: {source}")]
    Handshake {
        /// The host dialled.
        host: String,
        /// The error.
        source: io::Error,
    },
}

impl UpstreamTls {
    /// System roots (or bundled Mozilla roots when the host has none), plus
    /// `extra_ca_pem` when given (one or more PEM certificates).
    pub fn new(extra_ca_pem: Option<&str>) -> Result<UpstreamTls, TlsError> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        let source = if added > 0 {
            RootsSource::System
        } else {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            RootsSource::Bundled
        };
        if let Some(pem) = extra_ca_pem {
            add_extra(&mut roots, pem)?;
        }
        UpstreamTls::from_roots(roots, source)
    }

    /// The system roots already read as PEM (see `SystemRoots`), parsed on the first
    /// upstream TLS connection rather than at every sandbox start; certificates webpki
    /// cannot parse are skipped as `rustls-native-certs` would skip them (no usable
    /// one: the same fallback as [`UpstreamTls::new`]). `extra_ca_pem` is checked now,
    /// strictly, so a bad `--upstream-ca` still fails the start.
    pub fn from_system_pem(
        system_pem: &str,
        extra_ca_pem: Option<&str>,
    ) -> Result<UpstreamTls, TlsError> {
        let extra = match extra_ca_pem {
            Some(pem) => {
                let mut probe = RootCertStore::empty();
                add_extra(&mut probe, pem)?;
                Some(pem.to_owned())
            }
            None => None,
        };
        let system_pem = system_pem.to_owned();
        let source = Arc::new(OnceLock::new());
        let found = Arc::clone(&source);
        let config = LazyTls::new(move || {
            let mut roots = RootCertStore::empty();
            let system: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(system_pem.as_bytes())
                    .filter_map(Result::ok)
                    .collect();
            let (added, _ignored) = roots.add_parsable_certificates(system);
            let built = if added == 0 {
                UpstreamTls::new(extra.as_deref())
            } else {
                if let Some(pem) = &extra {
                    add_extra(&mut roots, pem).map_err(|e| e.to_string())?;
                }
                UpstreamTls::from_roots(roots, RootsSource::System)
            }
            .map_err(|e| e.to_string())?;
            if let Some(source) = built.source.get() {
                let _ = found.set(*source);
            }
            built.config.get()
        });
        Ok(UpstreamTls { config, source })
    }

    /// Only the CAs in `ca_pem`: for tests that must prove nothing else is trusted.
    pub fn only(ca_pem: &str) -> Result<UpstreamTls, TlsError> {
        let mut roots = RootCertStore::empty();
        add_extra(&mut roots, ca_pem)?;
        UpstreamTls::from_roots(roots, RootsSource::ExtraOnly)
    }

    fn from_roots(roots: RootCertStore, source: RootsSource) -> Result<UpstreamTls, TlsError> {
        if roots.is_empty() {
            return Err(TlsError::NoRoots("the root store is empty".into()));
        }
        let mut config = ClientConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::mint("upstream TLS configuration", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        let known = OnceLock::new();
        let _ = known.set(source);
        Ok(UpstreamTls {
            config: LazyTls::ready(Arc::new(config)),
            source: Arc::new(known),
        })
    }

    /// Where the roots came from (builds the configuration if it was not yet).
    pub fn source(&self) -> Option<RootsSource> {
        let _ = self.config.get();
        self.source.get().copied()
    }

    /// The client configuration, shared (the inference router connects with it too).
    pub fn config(&self) -> &LazyTls {
        &self.config
    }

    /// Runs the client handshake on `io` (already connected to a validated address of
    /// `host`), verifying the certificate for `host` (a DNS name or IP literal).
    pub async fn connect<S>(&self, host: &str, io: S) -> Result<TlsStream<S>, UpstreamError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| UpstreamError::InvalidName(host.to_owned()))?;
        let config = self
            .config
            .get()
            .map_err(|reason| UpstreamError::Handshake {
                host: host.to_owned(),
                source: io::Error::other(format!("no TLS client configuration: {reason}")),
            })?;
        TlsConnector::from(config)
            .connect(name, io)
            .await
            .map_err(|source| classify(source, host))
    }
}

fn add_extra(roots: &mut RootCertStore, pem: &str) -> Result<(), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::ExtraCa(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::ExtraCa("no PEM certificate found".into()));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| TlsError::ExtraCa(e.to_string()))?;
    }
    Ok(())
}

fn classify(err: io::Error, host: &str) -> UpstreamError {
    let cert_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::InvalidCertificate(reason) => Some(format!("{reason:?}")),
            _ => None,
        });
    match cert_error {
        Some(reason) => UpstreamError::Certificate {
            host: host.to_owned(),
            reason,
        },
        None => UpstreamError::Handshake {
            host: host.to_owned(),
            source: err,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_roots_are_found_on_this_machine() {
        let tls = UpstreamTls::new(None).unwrap();
        assert_eq!(tls.source(), Some(RootsSource::System));
        assert_eq!(
            tls.config().get().unwrap().alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn extra_ca_must_be_a_certificate() {
        assert!(matches!(
            UpstreamTls::only("not pem"),
            Err(TlsError::ExtraCa(_))
        ));
        assert!(UpstreamTls::new(Some("")).is_err());
        let ca = super::super::SandboxCa::generate().unwrap();
        UpstreamTls::new(Some(ca.cert_pem())).unwrap();
    }
}
