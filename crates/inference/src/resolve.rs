//! Resolving provider hosts without getaddrinfo (cordon ships as a static binary, where
//! NSS lookups break): IP literals as they are, then DNS through hickory with the
//! host's `/etc/resolv.conf`. Provider hosts are the operator's own configuration, so
//! no SSRF filtering applies here (a local Ollama on 127.0.0.1 is the common case).

use std::net::IpAddr;

use hickory_resolver::TokioResolver;

use crate::InferenceError;

/// Looks up provider hosts; built lazily so routers that only ever reach IP literals
/// never read the DNS configuration.
#[derive(Default)]
pub struct Resolver {
    dns: tokio::sync::OnceCell<TokioResolver>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("dns_ready", &self.dns.initialized())
            .finish()
    }
}

impl Resolver {
    /// Addresses of `host`, IPv4 first.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let dns = self
            .dns
            .get_or_try_init(|| async { build() })
            .await
            .map_err(|e| e.to_string())?;
        // Fully qualified: no search-domain surprises.
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let lookup = dns
            .lookup_ip(fqdn.as_str())
            .await
            .map_err(|e| format!("DNS lookup of {host} failed: {e}"))?;
        let mut addrs: Vec<IpAddr> = lookup.iter().collect();
        addrs.sort_by_key(|ip| ip.is_ipv6());
        addrs.dedup();
        if addrs.is_empty() {
            return Err(format!("{host} has no A or AAAA records"));
        }
        Ok(addrs)
    }
}

fn build() -> Result<TokioResolver, InferenceError> {
    TokioResolver::builder_tokio()
        .map_err(|e| InferenceError::Resolver(e.to_string()))?
        .build()
        .map_err(|e| InferenceError::Resolver(e.to_string()))
}
