//! Name resolution for destinations: IP literals as they are, then the static hosts
//! map, then DNS through hickory (no getaddrinfo: nothing NSS-dependent in a static
//! binary, and every A/AAAA answer comes back so each one can be checked).

use std::net::IpAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::LookupIpStrategy;

use crate::error::EgressError;
use crate::hosts::StaticHosts;
use crate::limits::DNS_TIMEOUT;

/// Where names that are not pinned in the static hosts map are looked up.
#[derive(Debug, Clone, Default)]
pub enum DnsMode {
    /// The host's resolver configuration (`/etc/resolv.conf`, `/etc/hosts`).
    #[default]
    System,
    /// No DNS at all: only IP literals and the static hosts map resolve. For tests
    /// and air-gapped sandboxes.
    Disabled,
}

/// Resolves destination hosts.
pub struct Resolver {
    hosts: StaticHosts,
    dns: Option<TokioResolver>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("hosts", &self.hosts)
            .field("dns", &self.dns.is_some())
            .finish()
    }
}

impl Resolver {
    /// Builds the resolver; reads the system DNS configuration once.
    pub fn new(hosts: StaticHosts, mode: &DnsMode) -> Result<Resolver, EgressError> {
        let dns = match mode {
            DnsMode::Disabled => None,
            DnsMode::System => {
                let mut builder = TokioResolver::builder_tokio()
                    .map_err(|err| EgressError::Resolver(err.to_string()))?;
                let options = builder.options_mut();
                // Both families, so the SSRF check sees every address a name has.
                options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
                options.timeout = DNS_TIMEOUT;
                Some(
                    builder
                        .build()
                        .map_err(|err| EgressError::Resolver(err.to_string()))?,
                )
            }
        };
        Ok(Resolver { hosts, dns })
    }

    /// All addresses of `host` (lower-case, brackets already stripped). IPv4 first.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if let Some(addrs) = self.hosts.lookup(host) {
            return Ok(addrs.to_vec());
        }
        let Some(dns) = &self.dns else {
            return Err(format!(
                "{host} is not in the static hosts map and DNS is disabled"
            ));
        };
        // Fully qualified: search domains must not turn `api.example.com` into
        // `api.example.com.corp.internal` behind the policy's back.
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let lookup = tokio::time::timeout(DNS_TIMEOUT, dns.lookup_ip(fqdn.as_str()))
            .await
            .map_err(|_| format!("DNS lookup of {host} timed out"))?
            .map_err(|err| format!("DNS lookup of {host} failed: {err}"))?;
        let mut addrs: Vec<IpAddr> = lookup.iter().collect();
        addrs.sort_by_key(|ip| ip.is_ipv6());
        addrs.dedup();
        if addrs.is_empty() {
            return Err(format!("{host} has no A or AAAA records"));
        }
        Ok(addrs)
    }
}
