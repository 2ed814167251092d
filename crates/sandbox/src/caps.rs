//! Dropping every capability of the agent: bounding, ambient, effective, permitted and
//! inheritable sets, then reading them back. The init process keeps its capabilities inside
//! the user namespace (it needs them for nothing after setup, but never execs), the agent
//! keeps none; any set left non-empty fails the start (fail closed).

use crate::sys;

/// Capabilities are numbered below this; the loop stops earlier at the kernel's last one.
const MAX_CAPABILITIES: u32 = 64;

/// Drops all capabilities and verifies. Returns the `-v` line.
pub(crate) fn drop_all() -> Result<String, String> {
    let mut known = 0;
    for cap in 0..MAX_CAPABILITIES {
        match sys::bounding_drop(cap) {
            Ok(()) => known = cap + 1,
            // EINVAL: past the kernel's last capability.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => break,
            Err(err) => {
                return Err(format!(
                    "drop capability {cap} from the bounding set: {err}"
                ));
            }
        }
    }
    sys::ambient_clear().map_err(|e| format!("clear ambient capabilities: {e}"))?;
    sys::capset_empty().map_err(|e| format!("clear capability sets: {e}"))?;
    verify(known)?;
    Ok(format!(
        "capabilities: none (bounding, ambient, effective, permitted, inheritable empty; {known} checked)"
    ))
}

fn verify(known: u32) -> Result<(), String> {
    let sets = sys::capget().map_err(|e| format!("read capabilities: {e}"))?;
    if sets != [0, 0, 0] {
        return Err(format!("capabilities still held after dropping: {sets:x?}"));
    }
    for cap in 0..known {
        if sys::bounding_has(cap).map_err(|e| format!("read bounding set: {e}"))? {
            return Err(format!("capability {cap} still in the bounding set"));
        }
        if sys::ambient_has(cap).map_err(|e| format!("read ambient set: {e}"))? {
            return Err(format!("capability {cap} still in the ambient set"));
        }
    }
    Ok(())
}
