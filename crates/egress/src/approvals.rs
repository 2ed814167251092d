//! Pending approvals: destinations the sandbox was refused because no policy entry
//! allows them, waiting for the operator (`cordon approvals`, `cordon term`).
//!
//! Every connection the policy engine denies (no entry matches host, port and binary:
//! `DenyReason::NoEndpointForHost`, `PortNotAllowed`, `BinaryUnknown`,
//! `BinaryNotAllowed`) is recorded here, from the proxy's CONNECT and forwarding paths
//! and from transparent capture alike. Refusals an approval must not lift are not
//! recorded: a binary replaced after its first use (trust on first use), an invalid
//! host, a resolved address the SSRF rules refuse (the destination is already allowed
//! by name; reaching an internal address is a policy edit, not a click), a failed DNS
//! lookup, a request refused by L7 rules.
//!
//! Requests are deduplicated by (host, port, binary): a repeat bumps `count` and
//! `last_seen_ms`. Each has a short id derived from that triple, so the same
//! destination keeps the same id for as long as it is pending (and gets it again if it
//! comes back). The store is bounded (`limits::MAX_PENDING_APPROVALS`, least recently
//! seen dropped first).
//!
//! Approving is the supervisor's job (it adds a policy entry as a new generation and
//! then [`Approvals::resolve`]s the request). Dismissing ([`Approvals::dismiss`]) removes
//! the request and remembers the triple (bounded, `limits::MAX_DISMISSED_APPROVALS`):
//! the next identical attempt is refused at once, not held and not listed again, until
//! the supervisor restarts.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use cordon_policy::{CompiledPolicy, Verdict};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::limits::{MAX_DISMISSED_APPROVALS, MAX_PENDING_APPROVALS};

/// Hex digits of an id: 32 bits, ample for a few hundred requests (a clash is resolved
/// by rehashing, see `Inner::free_id`).
const ID_HEX_DIGITS: usize = 8;

/// One destination waiting for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingRequest {
    /// Short, stable while pending: derived from (host, port, binary).
    pub id: String,
    /// As the client named it, normalised (lower case, no trailing dot).
    pub host: String,
    pub port: u16,
    /// The calling executable inside the sandbox (`None`: it could not be identified).
    pub binary: Option<String>,
    /// Denied connections to it so far.
    pub count: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

/// What recording a denial did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The request is pending (new or bumped); its id.
    Pending(String),
    /// The operator dismissed this destination: refuse at once.
    Dismissed,
}

type Key = (String, u16, Option<String>);

#[derive(Debug, Default)]
struct Inner {
    /// Random per store: ids derive from it, so the agent cannot compute offline a
    /// destination whose id equals one the operator is about to approve.
    id_key: [u8; 16],
    pending: HashMap<Key, PendingRequest>,
    dismissed: HashSet<Key>,
    /// Dismissals in the order they were made, oldest first (for the bound).
    dismissed_order: VecDeque<Key>,
}

/// The pending approvals of one sandbox. Shared by the proxy (which records) and the
/// supervisor's control API (which lists, resolves and dismisses).
#[derive(Debug)]
pub struct Approvals {
    inner: Mutex<Inner>,
    max_pending: usize,
    max_dismissed: usize,
    /// Bumped on every dismissal: a connection held for a decision wakes and checks
    /// whether it was its destination.
    dismissals: watch::Sender<u64>,
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals::new()
    }
}

impl Approvals {
    /// An empty store with the default bounds.
    pub fn new() -> Approvals {
        Approvals::with_bounds(MAX_PENDING_APPROVALS, MAX_DISMISSED_APPROVALS)
    }

    /// An empty store keeping at most `max_pending` requests and `max_dismissed`
    /// dismissals.
    pub fn with_bounds(max_pending: usize, max_dismissed: usize) -> Approvals {
        Approvals {
            inner: Mutex::new(Inner {
                id_key: random_key(),
                ..Inner::default()
            }),
            max_pending: max_pending.max(1),
            max_dismissed: max_dismissed.max(1),
            dismissals: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one denied connection at `now_ms`.
    pub(crate) fn record(
        &self,
        host: &str,
        port: u16,
        binary: Option<&str>,
        now_ms: u64,
    ) -> Recorded {
        let key: Key = (host.to_owned(), port, binary.map(str::to_owned));
        let mut inner = self.lock();
        if inner.dismissed.contains(&key) {
            return Recorded::Dismissed;
        }
        if let Some(request) = inner.pending.get_mut(&key) {
            request.count += 1;
            request.last_seen_ms = request.last_seen_ms.max(now_ms);
            return Recorded::Pending(request.id.clone());
        }
        if inner.pending.len() >= self.max_pending
            && let Some(stalest) = inner
                .pending
                .values()
                .min_by_key(|r| (r.last_seen_ms, r.first_seen_ms))
                .map(|r| (r.host.clone(), r.port, r.binary.clone()))
        {
            inner.pending.remove(&stalest);
        }
        let id = inner.free_id(&key);
        inner.pending.insert(
            key.clone(),
            PendingRequest {
                id: id.clone(),
                host: key.0,
                port,
                binary: key.2,
                count: 1,
                first_seen_ms: now_ms,
                last_seen_ms: now_ms,
            },
        );
        Recorded::Pending(id)
    }

    /// Every pending request, oldest first.
    pub fn list(&self) -> Vec<PendingRequest> {
        let mut list: Vec<PendingRequest> = self.lock().pending.values().cloned().collect();
        list.sort_by(|a, b| {
            (a.first_seen_ms, &a.host, a.port).cmp(&(b.first_seen_ms, &b.host, b.port))
        });
        list
    }

    /// Drops the requests `policy` now allows (a policy reload or another approval
    /// covered them) and lists the rest, oldest first.
    pub fn pending(&self, policy: &CompiledPolicy) -> Vec<PendingRequest> {
        self.lock().pending.retain(|_, r| {
            policy
                .decide_connect(&r.host, r.port, r.binary.as_deref())
                .verdict
                == Verdict::Deny
        });
        self.list()
    }

    /// The pending request `id`.
    pub fn get(&self, id: &str) -> Option<PendingRequest> {
        self.lock().pending.values().find(|r| r.id == id).cloned()
    }

    /// Removes request `id` because it was approved (its destination is now allowed).
    pub fn resolve(&self, id: &str) -> Option<PendingRequest> {
        let mut inner = self.lock();
        let key = inner.key_of(id)?;
        inner.pending.remove(&key)
    }

    /// Removes request `id` and remembers its destination as dismissed: connections
    /// held for it are refused now, later identical ones at once.
    pub fn dismiss(&self, id: &str) -> Option<PendingRequest> {
        let mut inner = self.lock();
        let key = inner.key_of(id)?;
        let request = inner.pending.remove(&key)?;
        if inner.dismissed.insert(key.clone()) {
            inner.dismissed_order.push_back(key);
            while inner.dismissed_order.len() > self.max_dismissed {
                if let Some(oldest) = inner.dismissed_order.pop_front() {
                    inner.dismissed.remove(&oldest);
                }
            }
        }
        drop(inner);
        self.dismissals.send_modify(|n| *n += 1);
        Some(request)
    }

    /// Whether (host, port, binary) was dismissed.
    pub(crate) fn is_dismissed(&self, host: &str, port: u16, binary: Option<&str>) -> bool {
        let key: Key = (host.to_owned(), port, binary.map(str::to_owned));
        self.lock().dismissed.contains(&key)
    }

    /// A receiver woken on every dismissal (for connections held for a decision).
    pub(crate) fn subscribe_dismissals(&self) -> watch::Receiver<u64> {
        self.dismissals.subscribe()
    }
}

/// 16 random bytes; a failing system random source (never seen on Linux) leaves ids
/// derived from the time instead, still unknown to the agent in advance.
fn random_key() -> [u8; 16] {
    let mut key = [0u8; 16];
    if getrandom::fill(&mut key).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        key = nanos.to_le_bytes();
    }
    key
}

impl Inner {
    fn key_of(&self, id: &str) -> Option<Key> {
        self.pending
            .iter()
            .find(|(_, r)| r.id == id)
            .map(|(k, _)| k.clone())
    }

    /// The id of `key`: the first hex digits of SHA-256 over the store's random key and
    /// the triple, rehashed with a counter in the (unlikely) case another pending
    /// request already has it.
    fn free_id(&self, key: &Key) -> String {
        let mut salt = 0u32;
        loop {
            let mut hash = Sha256::new();
            hash.update(self.id_key);
            hash.update(key.0.as_bytes());
            hash.update([0]);
            hash.update(key.1.to_be_bytes());
            hash.update([0]);
            hash.update(key.2.as_deref().unwrap_or("").as_bytes());
            hash.update([u8::from(key.2.is_some())]);
            if salt > 0 {
                hash.update(salt.to_be_bytes());
            }
            let mut id = hex::encode(hash.finalize());
            id.truncate(ID_HEX_DIGITS);
            if !self.pending.values().any(|r| r.id == id) {
                return id;
            }
            salt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(recorded: Recorded) -> String {
        match recorded {
            Recorded::Pending(id) => id,
            Recorded::Dismissed => panic!("dismissed"),
        }
    }

    #[test]
    fn repeats_bump_one_request_and_keep_its_id() {
        let store = Approvals::new();
        let first = id(store.record("evil.test", 80, Some("/usr/bin/curl"), 1000));
        let again = id(store.record("evil.test", 80, Some("/usr/bin/curl"), 2500));
        assert_eq!(first, again);
        assert_eq!(first.len(), ID_HEX_DIGITS);
        let list = store.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].count, 2);
        assert_eq!((list[0].first_seen_ms, list[0].last_seen_ms), (1000, 2500));
        // Another port, another binary, an unknown binary: three more requests.
        store.record("evil.test", 443, Some("/usr/bin/curl"), 3000);
        store.record("evil.test", 80, Some("/usr/bin/wget"), 3000);
        store.record("evil.test", 80, None, 3000);
        let list = store.list();
        assert_eq!(list.len(), 4);
        let ids: HashSet<_> = list.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), 4, "ids must be distinct: {list:?}");
        // Not computable from the triple alone: another store (another supervisor)
        // keys its ids differently, so the agent cannot aim a destination at an id.
        let other = Approvals::new();
        assert_ne!(
            id(other.record("evil.test", 80, Some("/usr/bin/curl"), 9)),
            first
        );
    }

    #[test]
    fn the_store_is_bounded_and_drops_the_least_recently_seen() {
        let store = Approvals::with_bounds(3, 8);
        store.record("a.test", 1, None, 10);
        store.record("b.test", 1, None, 20);
        store.record("c.test", 1, None, 30);
        store.record("a.test", 1, None, 40); // a is fresh again; b is now the stalest
        store.record("d.test", 1, None, 50);
        let hosts: Vec<String> = store.list().into_iter().map(|r| r.host).collect();
        assert_eq!(hosts, ["a.test", "c.test", "d.test"]);
    }

    #[test]
    fn dismissed_requests_stay_dismissed_and_resolved_ones_can_return() {
        let store = Approvals::with_bounds(8, 1);
        let evil = id(store.record("evil.test", 80, None, 1));
        let other = id(store.record("other.test", 80, None, 1));
        let woken = store.subscribe_dismissals();
        assert_eq!(
            store.dismiss(&evil).map(|r| r.host).as_deref(),
            Some("evil.test")
        );
        assert!(woken.has_changed().unwrap());
        assert!(store.dismiss(&evil).is_none(), "unknown id once dismissed");
        assert_eq!(store.record("evil.test", 80, None, 2), Recorded::Dismissed);
        assert!(store.is_dismissed("evil.test", 80, None));
        assert_eq!(store.list().len(), 1);

        assert!(store.resolve(&other).is_some());
        assert!(store.list().is_empty());
        assert_eq!(
            store.record("other.test", 80, None, 3),
            Recorded::Pending(other.clone())
        );

        // Only one dismissal is remembered: a second one forgets the first.
        store.dismiss(&other);
        assert!(!store.is_dismissed("evil.test", 80, None));
        assert!(matches!(
            store.record("evil.test", 80, None, 4),
            Recorded::Pending(_)
        ));
        assert!(store.get("nope").is_none() && store.resolve("nope").is_none());
    }

    #[test]
    fn pending_drops_what_the_policy_now_allows() {
        let store = Approvals::new();
        store.record("api.test", 443, Some("/usr/bin/curl"), 1);
        store.record("evil.test", 443, Some("/usr/bin/curl"), 1);
        let yaml = "version: 1\nnetwork_policies:\n  api:\n    endpoints: [{ host: api.test, port: 443 }]\n    binaries: [{ path: /usr/bin/curl }]\n";
        let policy = cordon_policy::parse_str(yaml, "<test>").unwrap().policy;
        let compiled = CompiledPolicy::compile(&policy).unwrap();
        let left: Vec<String> = store
            .pending(&compiled)
            .into_iter()
            .map(|r| r.host)
            .collect();
        assert_eq!(left, ["evil.test"]);
    }
}
