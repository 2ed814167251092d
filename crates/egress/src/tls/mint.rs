//! Leaf certificates for the hosts a sandbox talks to, signed by its CA, and the
//! bounded cache of ready-made server configurations built from them.
//!
//! Minting costs a key generation and a signature (~0.2 ms for P-256); a cached
//! configuration also keeps TLS session resumption working for repeat connections.
//! Each leaf gets a fresh key, so serial numbers (derived from the key by rcgen)
//! never repeat under one issuer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, DnsName, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use super::ca::{BACKDATE, SandboxCa};
use super::{ALPN_HTTP1, TlsError};

/// Most leaf configurations kept per sandbox. At the limit, minting for a new host
/// evicts the least recently used entry (a linear scan, only on a miss); the evicted
/// host is simply minted again on its next connection. 1024 hosts is far more than an
/// agent's working set of inspected endpoints, and bounds the cache at roughly 4 MiB.
pub const MAX_CACHED_LEAVES: usize = 1024;

/// Validity of a minted leaf. Short enough that a leaked leaf key is soon worthless,
/// long enough that no connection outlives it.
const LEAF_VALIDITY: Duration = Duration::days(30);

/// A cached leaf older than this is minted again, so no client ever sees a leaf close
/// to expiry in a long-running sandbox.
const LEAF_REFRESH_AFTER: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// A minted leaf: the chain to present (leaf, then the CA) and the leaf's key.
pub(crate) struct Leaf {
    pub(crate) cert: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

/// Mints a leaf for `host` (a DNS name or an IP literal; normalise first).
pub(crate) fn mint_leaf(ca: &SandboxCa, host: &str) -> Result<Leaf, TlsError> {
    let what = || format!("leaf certificate for {host}");
    let san = match host.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => {
            DnsName::try_from(host).map_err(|_| TlsError::InvalidHost(host.to_owned()))?;
            let name = host
                .to_owned()
                .try_into()
                .map_err(|_| TlsError::InvalidHost(host.to_owned()))?;
            SanType::DnsName(name)
        }
    };
    let key = KeyPair::generate().map_err(|e| TlsError::mint(what(), e))?;
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![san];
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, host);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + LEAF_VALIDITY;
    let cert = params
        .signed_by(&key, ca.issuer())
        .map_err(|e| TlsError::mint(what(), e))?;
    Ok(Leaf {
        cert: vec![cert.der().clone(), ca.cert_der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}

/// Normalises a host for a certificate and the cache key: lowercase, no trailing dot,
/// IPv6 without brackets.
pub(crate) fn normalize_host(host: &str) -> String {
    let host = host.trim_end_matches('.');
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.to_ascii_lowercase()
}

struct Entry {
    config: Arc<ServerConfig>,
    minted_at: Instant,
    last_used: u64,
}

/// Server configurations with a minted leaf, one per host, bounded by
/// [`MAX_CACHED_LEAVES`]. Shared by every connection of a sandbox.
pub struct LeafCache {
    ca: Arc<SandboxCa>,
    provider: Arc<CryptoProvider>,
    entries: Mutex<HashMap<String, Entry>>,
    /// Logical clock for least-recently-used eviction.
    tick: AtomicU64,
    /// Leaves minted so far (a cache miss each), for stats and tests.
    minted: AtomicU64,
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCache")
            .field("ca", &self.ca)
            .field("minted", &self.minted())
            .finish_non_exhaustive()
    }
}

impl LeafCache {
    /// An empty cache signing with `ca`.
    pub fn new(ca: Arc<SandboxCa>) -> LeafCache {
        LeafCache {
            ca,
            provider: super::provider(),
            entries: Mutex::new(HashMap::new()),
            tick: AtomicU64::new(0),
            minted: AtomicU64::new(0),
        }
    }

    /// The CA leaves are signed by.
    pub fn ca(&self) -> &Arc<SandboxCa> {
        &self.ca
    }

    /// How many leaves were minted (cache misses) since the cache was created.
    pub fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// How many hosts are cached now.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The server configuration presenting a leaf for `host`, minted on first use.
    /// Only `http/1.1` is offered over ALPN (see [`ALPN_HTTP1`]).
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, TlsError> {
        let host = normalize_host(host);
        let now = self.tick.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(&host)
            && entry.minted_at.elapsed() < LEAF_REFRESH_AFTER
        {
            entry.last_used = now;
            return Ok(Arc::clone(&entry.config));
        }
        // Mint outside the lock: two first connections to one host may both mint, and
        // the later insert wins; both leaves are valid.
        let leaf = mint_leaf(&self.ca, &host)?;
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::mint(format!("TLS server configuration for {host}"), e))?
            .with_no_client_auth()
            .with_single_cert(leaf.cert, leaf.key)
            .map_err(|e| TlsError::mint(format!("TLS server configuration for {host}"), e))?;
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        let config = Arc::new(config);
        self.minted.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_CACHED_LEAVES && !entries.contains_key(&host) {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
            entries.insert(
                host,
                Entry {
                    config: Arc::clone(&config),
                    minted_at: Instant::now(),
                    last_used: now,
                },
            );
        }
        Ok(config)
    }

    /// The cache bounded at `max` instead of [`MAX_CACHED_LEAVES`] (tests).
    #[cfg(test)]
    fn fill_to(&self, max: usize) {
        for i in 0..max {
            let _ = self.server_config(&format!("h{i}.test"));
        }
    }
}

#[cfg(test)]
mod tests {
    use rustls::client::danger::ServerCertVerifier;

    use super::*;

    fn cache() -> LeafCache {
        LeafCache::new(Arc::new(SandboxCa::generate().unwrap()))
    }

    #[test]
    fn mints_once_per_host_and_normalises_names() {
        let cache = cache();
        let a = cache.server_config("API.Example.com.").unwrap();
        let b = cache.server_config("api.example.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.minted(), 1);
        cache.server_config("other.example.com").unwrap();
        assert_eq!(cache.minted(), 2);
        assert_eq!(a.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn mints_ip_sans_and_refuses_garbage() {
        let ca = SandboxCa::generate().unwrap();
        mint_leaf(&ca, "127.0.0.1").unwrap();
        mint_leaf(&ca, "::1").unwrap();
        assert!(matches!(
            mint_leaf(&ca, "bad host!"),
            Err(TlsError::InvalidHost(_))
        ));
        assert!(matches!(mint_leaf(&ca, ""), Err(TlsError::InvalidHost(_))));
    }

    #[test]
    fn evicts_the_least_recently_used_host_at_the_limit() {
        let cache = cache();
        cache.fill_to(MAX_CACHED_LEAVES);
        assert_eq!(cache.len(), MAX_CACHED_LEAVES);
        // Touch h0 so h1 becomes the oldest.
        cache.server_config("h0.test").unwrap();
        let minted = cache.minted();
        cache.server_config("new.test").unwrap();
        assert_eq!(cache.len(), MAX_CACHED_LEAVES);
        assert_eq!(cache.minted(), minted + 1);
        cache.server_config("h0.test").unwrap();
        assert_eq!(
            cache.minted(),
            minted + 1,
            "h0 was recently used and must still be cached"
        );
        cache.server_config("h1.test").unwrap();
        assert_eq!(
            cache.minted(),
            minted + 2,
            "h1 was the least recently used and was evicted"
        );
    }

    #[test]
    fn leaf_verifies_for_its_host_only() {
        let ca = SandboxCa::generate().unwrap();
        let leaf = mint_leaf(&ca, "api.example.com").unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            crate::tls::provider(),
        )
        .build()
        .unwrap();
        let now = rustls_pki_types::UnixTime::now();
        let ok = rustls_pki_types::ServerName::try_from("api.example.com").unwrap();
        verifier
            .verify_server_cert(&leaf.cert[0], &leaf.cert[1..], &ok, &[], now)
            .unwrap();
        let other = rustls_pki_types::ServerName::try_from("evil.example.com").unwrap();
        assert!(
            verifier
                .verify_server_cert(&leaf.cert[0], &leaf.cert[1..], &other, &[], now)
                .is_err()
        );
    }
}
