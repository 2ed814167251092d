//! Host → candidate endpoints, without scanning every pattern.
//!
//! - exact names and IP literals: one hash lookup;
//! - `*.suffix` and `**.suffix`: one lookup per parent domain of the host;
//! - intra-label patterns (`*-api.example.com`): keyed by their literal tail (from
//!   the last `*` to the end, e.g. `-api.example.com`); a host is looked up only at
//!   the tail lengths that occur in the policy, so thousands of such patterns under
//!   one popular domain cost a handful of lookups, not a scan.
//!
//! Maps use a small Fx-style hasher: keys come from the policy (fixed at compile),
//! lookups from the sandbox; a crafted host can at worst collide into a few extra
//! comparisons, never grow the table, and SipHash was the engine's largest cost.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::ops::ControlFlow;

use crate::host::{HostPattern, HostRef, LabelPattern};

/// FxHash (rustc's hasher): fast on short keys, not DoS-resistant (see module docs).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Candidate endpoints per host, each list ordered best-first by the compiler.
#[derive(Debug, Default)]
pub(super) struct HostIndex {
    exact: FxMap<Box<str>, Vec<u32>>,
    ips: FxMap<IpAddr, Vec<u32>>,
    /// `*.suffix` / `**.suffix`, keyed by `suffix`.
    wildcards: FxMap<Box<str>, Vec<u32>>,
    /// Intra-label patterns keyed by literal tail (`-api.example.com`).
    tails: FxMap<Box<str>, Vec<u32>>,
    /// Distinct tail lengths in `tails`, ascending.
    tail_lengths: Vec<usize>,
}

impl HostIndex {
    pub(super) fn insert(&mut self, pattern: &HostPattern, id: u32) {
        match pattern {
            HostPattern::Exact(name) => {
                self.exact.entry(name.as_str().into()).or_default().push(id)
            }
            HostPattern::Ip(ip) => self.ips.entry(*ip).or_default().push(id),
            HostPattern::Wildcard {
                first: LabelPattern::Glob(label),
                suffix,
            } if label != "*" => {
                let tail_start = label.rfind('*').map_or(0, |i| i + 1);
                let tail = format!("{}.{suffix}", &label[tail_start..]);
                if !self.tail_lengths.contains(&tail.len()) {
                    self.tail_lengths.push(tail.len());
                    self.tail_lengths.sort_unstable();
                }
                self.tails.entry(tail.into()).or_default().push(id);
            }
            HostPattern::Wildcard { suffix, .. } => {
                self.wildcards
                    .entry(suffix.as_str().into())
                    .or_default()
                    .push(id);
            }
        }
    }

    /// Orders every candidate list with `key` (best first).
    pub(super) fn sort_lists<K: Ord>(&mut self, key: impl Fn(u32) -> K) {
        let sort = |ids: &mut Vec<u32>| ids.sort_by_key(|&id| key(id));
        self.exact.values_mut().for_each(sort);
        self.ips.values_mut().for_each(sort);
        self.wildcards.values_mut().for_each(sort);
        self.tails.values_mut().for_each(sort);
    }

    /// Calls `visit` with each candidate list for `host`: exact first, then wildcard
    /// patterns (which the caller must still match against the host). Stops when
    /// `visit` breaks.
    pub(super) fn visit(
        &self,
        host: HostRef<'_>,
        mut visit: impl FnMut(&[u32]) -> ControlFlow<()>,
    ) {
        match host {
            HostRef::Ip(ip) => {
                if let Some(ids) = self.ips.get(&ip) {
                    let _ = visit(ids);
                }
            }
            HostRef::Name(name) => {
                let _ = self.visit_name(name, &mut visit);
            }
        }
    }

    fn visit_name(
        &self,
        name: &str,
        visit: &mut impl FnMut(&[u32]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if let Some(ids) = self.exact.get(name) {
            visit(ids)?;
        }
        let first_label_end = name.find('.').unwrap_or(name.len());
        for &len in &self.tail_lengths {
            // The tail must start inside the first label (at or after its start).
            if len > name.len() || name.len() - len > first_label_end {
                continue;
            }
            if let Some(ids) = name.get(name.len() - len..).and_then(|t| self.tails.get(t)) {
                visit(ids)?;
            }
        }
        let mut rest = name;
        while let Some((_, suffix)) = rest.split_once('.') {
            if let Some(ids) = self.wildcards.get(suffix) {
                visit(ids)?;
            }
            rest = suffix;
        }
        ControlFlow::Continue(())
    }
}
