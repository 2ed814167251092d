//! Which resolved addresses a sandbox may be connected to.
//!
//! The policy speaks in names; DNS (or a hostile name server, or a rebinding attack)
//! decides which address a name means. Every resolved address is classified here
//! before dialling: public addresses pass; internal ones (loopback, link-local, cloud
//! metadata, private ranges, the host's own addresses) pass only when the operator
//! named the host exactly or listed the address in `allowed_ips`; addresses nobody can
//! mean as a destination (unspecified, multicast, broadcast, reserved) never pass.
//! IPv6 forms that embed an IPv4 address (mapped `::ffff:a.b.c.d`, compatible
//! `::a.b.c.d`, NAT64 `64:ff9b::/96`) are judged as that IPv4 address.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cordon_policy::CompiledEndpoint;

/// What kind of address a destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    /// Routable on the internet.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// Cloud instance metadata services (169.254.169.254, fd00:ec2::254, 100.100.100.200, ...).
    Metadata,
    /// RFC 1918, CGNAT 100.64.0.0/10, ULA fc00::/7, site-local, benchmarking, documentation.
    Private,
    /// An address of one of the host's own interfaces.
    HostInterface,
    /// 0.0.0.0/8, :: — dialling it reaches the local host.
    Unspecified,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240.0.0.0/4 and other ranges with no meaning as a destination.
    Reserved,
}

impl AddrClass {
    /// Words for the denial reason.
    pub fn describe(self) -> &'static str {
        match self {
            AddrClass::Public => "public",
            AddrClass::Loopback => "loopback",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Metadata => "a cloud metadata address",
            AddrClass::Private => "a private-network address",
            AddrClass::HostInterface => "an address of the host itself",
            AddrClass::Unspecified => "the unspecified address",
            AddrClass::Multicast => "multicast",
            AddrClass::Broadcast => "broadcast",
            AddrClass::Reserved => "a reserved address",
        }
    }

    /// Never a valid destination, whatever the policy says.
    fn never_allowed(self) -> bool {
        matches!(
            self,
            AddrClass::Unspecified
                | AddrClass::Multicast
                | AddrClass::Broadcast
                | AddrClass::Reserved
        )
    }
}

/// An address refused as a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The address, in canonical form.
    pub ip: IpAddr,
    /// Its class.
    pub class: AddrClass,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.class.never_allowed() {
            write!(
                f,
                "resolved address {} is {} and is never a valid destination",
                self.ip,
                self.class.describe()
            )
        } else {
            write!(
                f,
                "resolved address {} is {}; internal addresses are reachable only through an endpoint whose host is written exactly (no wildcard) or whose allowed_ips covers the address",
                self.ip,
                self.class.describe()
            )
        }
    }
}

/// The IPv4 address an IPv6 form embeds, or the address itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks); not :: or ::1.
    if s[..6] == [0; 6] && u32::from(tail) > 1 {
        return Some(tail);
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    None
}

const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure wire server (a public address!)
];

const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// Classifies an address (after [`canonical`]), consulting the host's own addresses.
pub fn classify(ip: IpAddr, host_addrs: &HostAddrs) -> AddrClass {
    let ip = canonical(ip);
    let class = match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    };
    if class == AddrClass::Public && host_addrs.contains(ip) {
        return AddrClass::HostInterface;
    }
    class
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, _, _] = ip.octets();
    if METADATA_V4.contains(&ip) {
        AddrClass::Metadata
    } else if ip.is_broadcast() {
        AddrClass::Broadcast
    } else if a == 0 {
        AddrClass::Unspecified
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if ip.is_link_local() {
        AddrClass::LinkLocal
    } else if ip.is_multicast() {
        AddrClass::Multicast
    } else if a >= 240 {
        AddrClass::Reserved
    } else if ip.is_private()
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15 (fake-IP DNS setups)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments 192.0.0.0/24
        || ip.is_documentation()
    {
        AddrClass::Private
    } else {
        AddrClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let first = ip.segments()[0];
    if METADATA_V6.contains(&ip) {
        AddrClass::Metadata
    } else if ip.is_unspecified() {
        AddrClass::Unspecified
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if ip.is_multicast() {
        AddrClass::Multicast
    } else if (first & 0xffc0) == 0xfe80 {
        AddrClass::LinkLocal
    } else if (first & 0xfe00) == 0xfc00 // ULA fc00::/7
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.segments()[..4] == [0x100, 0, 0, 0]
    // discard-only 100::/64
    {
        AddrClass::Private
    } else {
        AddrClass::Public
    }
}

/// Checks one resolved address for an endpoint; returns it in canonical form.
///
/// `endpoint` is the endpoint that allowed the connection (`None` when the policy
/// matched without naming one: then only public addresses pass).
pub fn check(
    ip: IpAddr,
    endpoint: Option<&CompiledEndpoint>,
    host_addrs: &HostAddrs,
) -> Result<IpAddr, Refusal> {
    let canon = canonical(ip);
    let class = classify(canon, host_addrs);
    if class == AddrClass::Public {
        return Ok(canon);
    }
    let refusal = Refusal { ip: canon, class };
    if class.never_allowed() {
        return Err(refusal);
    }
    let Some(endpoint) = endpoint else {
        return Err(refusal);
    };
    let listed = endpoint
        .allowed_ips
        .iter()
        .any(|net| net.contains(&canon) || net.contains(&ip));
    if endpoint.host_is_exact || listed {
        Ok(canon)
    } else {
        Err(refusal)
    }
}

/// How long the host's interface addresses are cached before being read again.
const HOST_ADDRS_TTL: Duration = Duration::from_secs(5);

/// The host's own interface addresses (the supervisor's network namespace), read from
/// procfs and refreshed every few seconds, so an address added by DHCP is caught.
#[derive(Debug)]
pub struct HostAddrs {
    cache: Mutex<(Instant, HashSet<IpAddr>)>,
}

impl Default for HostAddrs {
    fn default() -> Self {
        HostAddrs {
            cache: Mutex::new((Instant::now(), read_host_addrs())),
        }
    }
}

impl HostAddrs {
    /// Whether `ip` is one of the host's addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0.elapsed() > HOST_ADDRS_TTL {
            *cache = (Instant::now(), read_host_addrs());
        }
        cache.1.contains(&ip)
    }
}

/// Reads local addresses: IPv4 from `/proc/net/fib_trie` (`/32 host LOCAL` leaves),
/// IPv6 from `/proc/net/if_inet6`. Both are readable without privileges.
fn read_host_addrs() -> HashSet<IpAddr> {
    let mut addrs = HashSet::new();
    if let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") {
        let mut last: Option<Ipv4Addr> = None;
        for line in trie.lines() {
            let text = line.trim_start();
            if let Some(rest) = text.strip_prefix("|-- ") {
                last = rest.trim().parse().ok();
            } else if text.starts_with("/32 host LOCAL")
                && let Some(ip) = last
            {
                addrs.insert(IpAddr::V4(ip));
            }
        }
    }
    if let Ok(table) = std::fs::read_to_string("/proc/net/if_inet6") {
        for line in table.lines() {
            let hex = line.split_whitespace().next().unwrap_or_default();
            if let Ok(bits) = u128::from_str_radix(hex, 16)
                && hex.len() == 32
            {
                addrs.insert(IpAddr::V6(Ipv6Addr::from(bits)));
            }
        }
    }
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddrClass {
        classify(s.parse().unwrap(), &HostAddrs::default())
    }

    #[test]
    fn classifies_internal_ranges() {
        assert_eq!(class("127.0.0.1"), AddrClass::Loopback);
        assert_eq!(class("::1"), AddrClass::Loopback);
        assert_eq!(class("::ffff:127.0.0.1"), AddrClass::Loopback);
        assert_eq!(class("::ffff:10.1.2.3"), AddrClass::Private);
        assert_eq!(class("64:ff9b::a9fe:a9fe"), AddrClass::Metadata);
        assert_eq!(class("169.254.169.254"), AddrClass::Metadata);
        assert_eq!(class("fd00:ec2::254"), AddrClass::Metadata);
        assert_eq!(class("100.100.100.200"), AddrClass::Metadata);
        assert_eq!(class("169.254.1.1"), AddrClass::LinkLocal);
        assert_eq!(class("fe80::1"), AddrClass::LinkLocal);
        assert_eq!(class("10.0.0.1"), AddrClass::Private);
        assert_eq!(class("172.16.5.4"), AddrClass::Private);
        assert_eq!(class("192.168.1.1"), AddrClass::Private);
        assert_eq!(class("100.64.0.1"), AddrClass::Private);
        assert_eq!(class("fc00::1"), AddrClass::Private);
        assert_eq!(class("0.0.0.0"), AddrClass::Unspecified);
        assert_eq!(class("::"), AddrClass::Unspecified);
        assert_eq!(class("224.0.0.1"), AddrClass::Multicast);
        assert_eq!(class("ff02::1"), AddrClass::Multicast);
        assert_eq!(class("255.255.255.255"), AddrClass::Broadcast);
        assert_eq!(class("240.0.0.1"), AddrClass::Reserved);
        assert_eq!(class("93.184.216.34"), AddrClass::Public);
        assert_eq!(class("2606:4700::1111"), AddrClass::Public);
    }

    #[test]
    fn canonical_unwraps_embedded_v4() {
        assert_eq!(
            canonical("::ffff:1.2.3.4".parse().unwrap()),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            canonical("::1".parse().unwrap()),
            "::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            canonical("::".parse().unwrap()),
            "::".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn host_loopback_is_known() {
        let addrs = HostAddrs::default();
        assert!(addrs.contains("127.0.0.1".parse().unwrap()));
    }
}
