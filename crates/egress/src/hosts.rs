//! The static hosts map: names the operator pins to addresses, consulted before DNS.
//!
//! This is `cordon run --add-host NAME:IP` and how tests point names at 127.0.0.1. A
//! pinned name still goes through the policy and the SSRF checks like a resolved one:
//! pinning `x.example.com` to 127.0.0.1 does not make loopback reachable unless the
//! policy names that host exactly.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::error::EgressError;

/// Name → addresses, names compared case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct StaticHosts {
    map: HashMap<String, Vec<IpAddr>>,
}

impl StaticHosts {
    /// An empty map (every name goes to DNS).
    pub fn new() -> StaticHosts {
        StaticHosts::default()
    }

    /// Adds an address for `name` (a name may have several).
    pub fn insert(&mut self, name: &str, ip: IpAddr) {
        let addrs = self
            .map
            .entry(name.trim_end_matches('.').to_ascii_lowercase())
            .or_default();
        if !addrs.contains(&ip) {
            addrs.push(ip);
        }
    }

    /// Parses `NAME:IP` (IPv6 literals may be bracketed: `NAME:[::1]`) and adds it.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), EgressError> {
        let bad = |message: &str| EgressError::HostMapping {
            value: entry.to_owned(),
            message: message.to_owned(),
        };
        // Names never contain ':', so the first one separates name from address.
        let (name, ip) = entry.split_once(':').ok_or_else(|| bad("missing ':'"))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(bad("the name must be a DNS name"));
        }
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| bad("the address is not an IP literal"))?;
        self.insert(name, ip);
        Ok(())
    }

    /// The pinned addresses of `name`, if any (`name` must already be lower-case).
    pub fn lookup(&self, name: &str) -> Option<&[IpAddr]> {
        self.map.get(name.trim_end_matches('.')).map(Vec::as_slice)
    }

    /// Whether no name is pinned.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_and_v6_entries() {
        let mut hosts = StaticHosts::new();
        hosts.add_entry("Api.Test:127.0.0.1").unwrap();
        hosts.add_entry("api.test:[::1]").unwrap();
        hosts.add_entry("six.test:::ffff:127.0.0.1").unwrap();
        assert_eq!(
            hosts.lookup("api.test").unwrap(),
            &[
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(hosts.lookup("six.test").is_some());
        assert!(hosts.add_entry("nocolon").is_err());
        assert!(hosts.add_entry("a b:1.2.3.4").is_err());
        assert!(hosts.add_entry("x.test:not-an-ip").is_err());
    }
}
