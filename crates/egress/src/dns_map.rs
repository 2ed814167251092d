//! The policy DNS's address book: which synthetic address stands for which name.
//!
//! The sandbox's stub resolver never hands out a real address. Each name a policy
//! entry could allow gets an index; its A record is `198.18.0.0/15` + index (the
//! RFC 2544 benchmarking range: never routed on the Internet, rarely used on a LAN)
//! and its AAAA record `fd63:6f72:646f:6e00::/96` + index (a unique-local prefix
//! spelling "cordon"). A captured connection to such an address is mapped back to
//! the name here, and the name (never the address) is what the policy decides and
//! the supervisor resolves for real, with its SSRF checks, before dialling.
//!
//! Entries are scoped to the policy generation that answered: under a newer
//! generation an entry is re-validated (`host_could_match`) on use and dropped when no
//! entry could allow its name any more. They expire [`MAPPING_LIFETIME`] after their
//! last answer or use; an expired or unknown synthetic address maps to nothing and
//! the connection is refused.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::generation::Generation;

/// First address of the IPv4 pool (`198.18.0.0/15`).
const V4_BASE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
/// Size of both pools: the /15 holds 2^17 addresses (index 0 is never handed out).
const POOL_SIZE: u32 = 1 << 17;
/// The IPv6 pool: `fd63:6f72:646f:6e00::/96`; the index fills the last 32 bits.
const V6_PREFIX: u128 = 0xfd63_6f72_646f_6e00_0000_0000_0000_0000;

/// TTL of the stub's answers. Short, so clients come back (and refresh the entry)
/// long before it expires, and so a reload that removes a name takes effect soon.
pub const ANSWER_TTL: Duration = Duration::from_secs(30);

/// An entry lives this long after its last answer or use. At the limit the synthetic
/// address maps to nothing; a client still holding it gets its connection refused and
/// must resolve again. Ten minutes outlasts every TTL-honouring cache by far (the
/// answers say 30 s) while letting addresses of names no longer used be reused.
pub const MAPPING_LIFETIME: Duration = Duration::from_secs(600);

/// Most names mapped at once per sandbox. At the limit, expired entries are dropped;
/// if none is, the stub answers `SERVFAIL` for new names (audited) until some expire.
/// 65,536 names is far beyond what an agent resolves in ten minutes, and bounds the
/// map to a few MiB.
pub const MAX_MAPPINGS: usize = 65_536;

#[derive(Debug)]
struct Entry {
    name: String,
    /// The policy generation that last validated the name.
    generation: u64,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Book {
    by_name: HashMap<String, u32>,
    by_index: HashMap<u32, Entry>,
    /// Where the search for a free index starts (round-robin, so a freed address is
    /// reused as late as possible).
    next: u32,
}

/// Synthetic address <-> name, for one sandbox.
#[derive(Debug, Default)]
pub struct DnsMap {
    book: Mutex<Book>,
}

/// Why a name got no address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// [`MAX_MAPPINGS`] live entries exist.
    Full,
}

impl DnsMap {
    /// An empty map.
    pub fn new() -> DnsMap {
        DnsMap::default()
    }

    /// The pool index of `name` (normalised: lower-case, no trailing dot), allocating
    /// one if needed, stamped with `generation` and a fresh expiry.
    pub fn assign(&self, name: &str, generation: u64, now: Instant) -> Result<u32, MapError> {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&index) = book.by_name.get(name)
            && let Some(entry) = book.by_index.get_mut(&index)
        {
            entry.generation = generation;
            entry.expires = now + MAPPING_LIFETIME;
            return Ok(index);
        }
        if book.by_index.len() >= MAX_MAPPINGS {
            book.purge(now);
            if book.by_index.len() >= MAX_MAPPINGS {
                return Err(MapError::Full);
            }
        }
        let index = book.free_index(now);
        book.by_name.insert(name.to_owned(), index);
        book.by_index.insert(
            index,
            Entry {
                name: name.to_owned(),
                generation,
                expires: now + MAPPING_LIFETIME,
            },
        );
        Ok(index)
    }

    /// The name a synthetic address stands for under `generation`, refreshing the
    /// entry. `None` for an address outside the pools, an unknown or expired index, or
    /// a name the generation no longer could allow (the entry is then dropped).
    pub fn name_for(&self, ip: IpAddr, generation: &Generation, now: Instant) -> Option<String> {
        let index = pool_index(ip)?;
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        let entry = book.by_index.get_mut(&index)?;
        let valid = entry.expires > now
            && (entry.generation == generation.number
                || generation.compiled.host_could_match(&entry.name)
                || entry.name == cordon_inference::INFERENCE_HOST);
        if !valid {
            book.remove(index);
            return None;
        }
        entry.generation = generation.number;
        entry.expires = now + MAPPING_LIFETIME;
        Some(entry.name.clone())
    }

    /// How many names are mapped now (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.book
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_index
            .len()
    }

    /// Whether no name is mapped.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Book {
    fn remove(&mut self, index: u32) {
        if let Some(entry) = self.by_index.remove(&index) {
            self.by_name.remove(&entry.name);
        }
    }

    fn purge(&mut self, now: Instant) {
        let expired: Vec<u32> = self
            .by_index
            .iter()
            .filter(|(_, e)| e.expires <= now)
            .map(|(i, _)| *i)
            .collect();
        for index in expired {
            self.remove(index);
        }
    }

    /// A free index (the caller made sure one exists): the next one not in use, or in
    /// use by an expired entry, which is dropped.
    fn free_index(&mut self, now: Instant) -> u32 {
        loop {
            self.next = self.next % (POOL_SIZE - 1) + 1;
            let index = self.next;
            match self.by_index.get(&index) {
                None => return index,
                Some(entry) if entry.expires <= now => {
                    self.remove(index);
                    return index;
                }
                Some(_) => {}
            }
        }
    }
}

/// The IPv4 address of pool index `index`.
pub fn v4_address(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(V4_BASE + index)
}

/// The IPv6 address of pool index `index`.
pub fn v6_address(index: u32) -> Ipv6Addr {
    Ipv6Addr::from(V6_PREFIX | u128::from(index))
}

/// The pool index of a synthetic address (IPv4-mapped IPv6 judged as IPv4), `None`
/// for any other address.
pub fn pool_index(ip: IpAddr) -> Option<u32> {
    let index = match crate::ssrf::canonical(ip) {
        IpAddr::V4(v4) => u32::from(v4).checked_sub(V4_BASE)?,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            if bits & !u128::from(u32::MAX) != V6_PREFIX {
                return None;
            }
            u32::try_from(bits & u128::from(u32::MAX)).ok()?
        }
    };
    (index > 0 && index < POOL_SIZE).then_some(index)
}

/// Whether `ip` lies in one of the synthetic pools (mapped or not).
pub fn in_pool(ip: IpAddr) -> bool {
    match crate::ssrf::canonical(ip) {
        IpAddr::V4(v4) => u32::from(v4).wrapping_sub(V4_BASE) < POOL_SIZE,
        IpAddr::V6(v6) => u128::from(v6) & !u128::from(u32::MAX) == V6_PREFIX,
    }
}

#[cfg(test)]
mod tests {
    use cordon_policy::CompiledPolicy;

    use super::*;

    fn generation(number: u64, hosts: &[&str]) -> Generation {
        let mut yaml = String::from("version: 1\nnetwork_policies:\n  e:\n    endpoints:\n");
        for host in hosts {
            yaml.push_str(&format!("      - {{host: \"{host}\", port: 443}}\n"));
        }
        yaml.push_str("    binaries: [{path: \"/**\"}]\n");
        let loaded = cordon_policy::parse_str(&yaml, "test").unwrap();
        Generation {
            number,
            compiled: CompiledPolicy::compile(&loaded.policy).unwrap(),
        }
    }

    #[test]
    fn addresses_round_trip_through_both_pools() {
        assert_eq!(v4_address(1), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(v4_address(POOL_SIZE - 1), Ipv4Addr::new(198, 19, 255, 255));
        assert_eq!(
            v6_address(0x0102_0304).to_string(),
            "fd63:6f72:646f:6e00::102:304"
        );
        for index in [1, 2, 300, POOL_SIZE - 1] {
            assert_eq!(pool_index(v4_address(index).into()), Some(index));
            assert_eq!(pool_index(v6_address(index).into()), Some(index));
            let mapped = v4_address(index).to_ipv6_mapped();
            assert_eq!(pool_index(mapped.into()), Some(index));
        }
        assert_eq!(pool_index(Ipv4Addr::new(198, 20, 0, 0).into()), None);
        assert_eq!(pool_index(Ipv4Addr::new(198, 18, 0, 0).into()), None);
        assert_eq!(pool_index(Ipv4Addr::new(127, 0, 0, 1).into()), None);
        assert_eq!(pool_index("fd63:6f72:646f:6e01::1".parse().unwrap()), None);
        assert!(in_pool(Ipv4Addr::new(198, 18, 0, 0).into()));
        assert!(!in_pool(Ipv4Addr::new(198, 17, 255, 255).into()));
    }

    #[test]
    fn a_name_keeps_its_address_and_maps_back() {
        let map = DnsMap::new();
        let now = Instant::now();
        let g1 = generation(1, &["api.test", "*.cdn.test"]);
        let a = map.assign("api.test", 1, now).unwrap();
        let b = map.assign("x.cdn.test", 1, now).unwrap();
        assert_ne!(a, b);
        assert_eq!(map.assign("api.test", 1, now).unwrap(), a);
        assert_eq!(
            map.name_for(v4_address(a).into(), &g1, now).as_deref(),
            Some("api.test")
        );
        assert_eq!(
            map.name_for(v6_address(b).into(), &g1, now).as_deref(),
            Some("x.cdn.test")
        );
        assert_eq!(map.name_for(v4_address(b + 1).into(), &g1, now), None);
    }

    #[test]
    fn entries_expire_and_are_refreshed_by_use() {
        let map = DnsMap::new();
        let start = Instant::now();
        let g1 = generation(1, &["api.test"]);
        let a = map.assign("api.test", 1, start).unwrap();
        let later = start + MAPPING_LIFETIME - Duration::from_secs(1);
        assert!(map.name_for(v4_address(a).into(), &g1, later).is_some());
        // Refreshed by that use: still there a lifetime after the first answer.
        assert!(
            map.name_for(v4_address(a).into(), &g1, start + MAPPING_LIFETIME)
                .is_some()
        );
        let much_later = later + MAPPING_LIFETIME + Duration::from_secs(1);
        assert_eq!(map.name_for(v4_address(a).into(), &g1, much_later), None);
        assert!(map.is_empty());
    }

    #[test]
    fn a_new_generation_drops_names_it_no_longer_allows() {
        let map = DnsMap::new();
        let now = Instant::now();
        let a = map.assign("api.test", 1, now).unwrap();
        let b = map.assign("gone.test", 1, now).unwrap();
        let g2 = generation(2, &["api.test"]);
        assert_eq!(
            map.name_for(v4_address(a).into(), &g2, now).as_deref(),
            Some("api.test")
        );
        assert_eq!(map.name_for(v4_address(b).into(), &g2, now), None);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn a_full_map_reuses_expired_entries_only() {
        let map = DnsMap::new();
        let now = Instant::now();
        {
            let mut book = map.book.lock().unwrap();
            for i in 1..=MAX_MAPPINGS as u32 {
                book.by_name.insert(format!("n{i}"), i);
                book.by_index.insert(
                    i,
                    Entry {
                        name: format!("n{i}"),
                        generation: 1,
                        expires: now + Duration::from_secs(5),
                    },
                );
            }
        }
        assert_eq!(map.assign("new.test", 1, now), Err(MapError::Full));
        let later = now + Duration::from_secs(6);
        assert!(map.assign("new.test", 1, later).is_ok());
        assert_eq!(map.len(), 1);
    }
}
