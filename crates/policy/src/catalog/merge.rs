//! Merging a preset's `network_policies` into a policy.
//!
//! Entries are merged whole, by key; endpoints are never spliced into another entry,
//! because an entry's binaries apply to all of its endpoints and silently widening
//! who may reach what is exactly what a policy must not do.
//!
//! Name clashes: an entry with the same key and the **same content** is left as it is
//! (applying a preset twice is a no-op, so `preset apply` can be re-run safely); the
//! same key with **different content** is refused, for the whole preset, before
//! anything changes. The operator then decides: rename or remove their entry, or
//! edit it by hand. Replacing it would drop rules the operator wrote; keeping it would
//! leave the preset half-applied while reporting success.

use std::collections::BTreeMap;

use crate::error::{PolicyError, Problem};
use crate::model::{NetworkPolicy, Policy};

use super::Preset;

/// What a merge did, by entry key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Entries that were not in the policy and now are.
    pub added: Vec<String>,
    /// Entries that were already in the policy with identical content.
    pub unchanged: Vec<String>,
}

/// Adds `preset`'s entries to `policy` (see the module docs for clashes). On error
/// `policy` is untouched.
pub fn apply_preset(policy: &mut Policy, preset: &Preset) -> Result<MergeOutcome, PolicyError> {
    let fragment = preset.network_policies()?;
    merge_network_policies(policy, fragment, &preset.origin())
}

/// Adds validated `fragment` entries to `policy`; `origin` names the fragment in
/// problems (`<preset github>`, a file path). All-or-nothing: a clash leaves `policy`
/// untouched and reports every clashing key.
pub fn merge_network_policies(
    policy: &mut Policy,
    fragment: BTreeMap<String, NetworkPolicy>,
    origin: &str,
) -> Result<MergeOutcome, PolicyError> {
    let mut clashes = Vec::new();
    let mut outcome = MergeOutcome::default();
    for (key, entry) in &fragment {
        match policy.network_policies.get(key) {
            None => outcome.added.push(key.clone()),
            Some(existing) if existing == entry => outcome.unchanged.push(key.clone()),
            Some(_) => {
                let mut problem = Problem::new(
                    format!("network_policies.{key}"),
                    format!(
                        "the policy already has an entry `{key}` that differs from the one {origin} adds"
                    ),
                )
                .hint(format!(
                    "rename or remove the policy's entry `{key}`, or merge the two by hand"
                ));
                problem.file = origin.to_owned();
                clashes.push(problem);
            }
        }
    }
    if !clashes.is_empty() {
        return Err(PolicyError { problems: clashes });
    }
    for (key, entry) in fragment {
        policy.network_policies.entry(key).or_insert(entry);
    }
    Ok(outcome)
}
