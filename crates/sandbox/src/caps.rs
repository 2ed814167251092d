//! Dropping every capability of the agent: bounding, ambient, effective, permitted and
//! inheritable sets, then reading them back. The init process keeps its capabilities inside
//! the user namespace (it needs them for nothing after setup, but never execs), the agent
//! keeps none; any set left non-empty fails the start (fail closed). The same routine
//! narrows a supervisor started as root to the short list it still needs.

use crate::sys;

/// Capabilities are numbered below this; the loop stops earlier at the kernel's last one.
const MAX_CAPABILITIES: u32 = 64;

/// Drops all capabilities and verifies. Returns the `-v` line.
pub(crate) fn drop_all() -> Result<String, String> {
    let known = narrow(0)?;
    Ok(format!(
        "capabilities: none (bounding, ambient, effective, permitted, inheritable empty; {known} checked)"
    ))
}

/// Narrows the calling thread (a supervisor started as root) to `keep`: every other
/// capability leaves the bounding set, ambient and inheritable are cleared, effective
/// and permitted become `keep` (minus what was not held). Threads created afterwards
/// inherit the result, so call it before any other thread exists. Returns the kept
/// mask; fails (and the caller fails closed) if anything outside `keep` remains.
pub fn retain_only(keep: &[u32]) -> Result<u64, String> {
    let mask = keep
        .iter()
        .filter(|cap| **cap < MAX_CAPABILITIES)
        .fold(0u64, |m, cap| m | (1u64 << cap));
    let held = sys::capget().map_err(|e| format!("read capabilities: {e}"))?;
    narrow(mask & held[1])?;
    Ok(mask & held[1])
}

/// Leaves exactly `mask` in the effective, permitted and bounding sets (nothing
/// inheritable or ambient), then reads every set back. Returns how many capabilities
/// the kernel knows.
fn narrow(mask: u64) -> Result<u32, String> {
    let kept = |cap: u32| mask & (1u64 << cap) != 0;
    let mut known = 0;
    for cap in 0..MAX_CAPABILITIES {
        let bounded = match sys::bounding_has(cap) {
            Ok(bounded) => bounded,
            // EINVAL: past the kernel's last capability.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => break,
            Err(err) => return Err(format!("read bounding set: {err}")),
        };
        known = cap + 1;
        // Dropping needs CAP_SETPCAP even for a capability already gone, and a
        // narrowed supervisor (re-exec'd for a restart) no longer has it: skip those.
        if bounded && !kept(cap) {
            sys::bounding_drop(cap)
                .map_err(|err| format!("drop capability {cap} from the bounding set: {err}"))?;
        }
    }
    sys::ambient_clear().map_err(|e| format!("clear ambient capabilities: {e}"))?;
    sys::capset_mask(mask).map_err(|e| format!("set capability sets: {e}"))?;
    let sets = sys::capget().map_err(|e| format!("read capabilities: {e}"))?;
    if sets != [mask, mask, 0] {
        return Err(format!(
            "capabilities left after narrowing to {mask:x}: {sets:x?}"
        ));
    }
    for cap in 0..known {
        if !kept(cap) && sys::bounding_has(cap).map_err(|e| format!("read bounding set: {e}"))? {
            return Err(format!("capability {cap} still in the bounding set"));
        }
        if sys::ambient_has(cap).map_err(|e| format!("read ambient set: {e}"))? {
            return Err(format!("capability {cap} still in the ambient set"));
        }
    }
    Ok(known)
}
