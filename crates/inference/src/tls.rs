//! The verified TLS client used to reach providers over `https`: the host's roots
//! (Mozilla's bundled roots when the host has none), plus optionally one extra CA for
//! tests and private gateways. Certificate errors are never ignored. Only `http/1.1` is
//! offered over ALPN: the router speaks HTTP/1.1 upstream.
//!
//! The supervisor may pass the egress layer's upstream configuration instead
//! ([`crate::RouterConfig::tls`] takes any `rustls::ClientConfig`).

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::InferenceError;

/// A client configuration built on first use, then shared by every clone. Parsing the
/// host's ~150 roots costs about half a millisecond, paid at every sandbox start when
/// done eagerly, though most sandboxes never open an upstream TLS connection.
#[derive(Clone)]
pub struct LazyTls(Arc<LazyInner>);

/// Builds a configuration, or says why it could not.
type Build = Box<dyn Fn() -> Result<Arc<ClientConfig>, String> + Send + Sync>;

struct LazyInner {
    cell: OnceLock<Result<Arc<ClientConfig>, String>>,
    build: Build,
}

impl LazyTls {
    /// Runs `build` the first time the configuration is needed (once, whatever the
    /// number of clones and callers).
    pub fn new(
        build: impl Fn() -> Result<Arc<ClientConfig>, String> + Send + Sync + 'static,
    ) -> LazyTls {
        LazyTls(Arc::new(LazyInner {
            cell: OnceLock::new(),
            build: Box::new(build),
        }))
    }

    /// A configuration that is already built.
    pub fn ready(config: Arc<ClientConfig>) -> LazyTls {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(config));
        LazyTls(Arc::new(LazyInner {
            cell,
            build: Box::new(|| Err("unreachable: built at creation".into())),
        }))
    }

    /// The configuration, built now if it is the first call.
    pub fn get(&self) -> Result<Arc<ClientConfig>, String> {
        self.0.cell.get_or_init(|| (self.0.build)()).clone()
    }
}

impl std::fmt::Debug for LazyTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyTls")
            .field("built", &self.0.cell.get().is_some())
            .finish()
    }
}

/// Builds the client configuration: system roots (or bundled ones) plus `extra_ca_pem`.
pub fn client_tls(extra_ca_pem: Option<&str>) -> Result<Arc<ClientConfig>, InferenceError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(pem) = extra_ca_pem {
        add_pem(&mut roots, pem)?;
    }
    build(roots)
}

/// Trusts only the CAs in `ca_pem` (tests proving nothing else is trusted).
pub fn client_tls_only(ca_pem: &str) -> Result<Arc<ClientConfig>, InferenceError> {
    let mut roots = RootCertStore::empty();
    add_pem(&mut roots, ca_pem)?;
    build(roots)
}

fn build(roots: RootCertStore) -> Result<Arc<ClientConfig>, InferenceError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| InferenceError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn add_pem(roots: &mut RootCertStore, pem: &str) -> Result<(), InferenceError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| InferenceError::Tls(format!("extra CA: {e}")))?;
    if certs.is_empty() {
        return Err(InferenceError::Tls(
            "extra CA: no PEM certificate found".into(),
        ));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| InferenceError::Tls(format!("extra CA: {e}")))?;
    }
    Ok(())
}
