//! Resource limits through rlimits, the fallback when no delegated cgroup v2 subtree exists.
//!
//! - memory -> `RLIMIT_AS`: per process (address space, not resident memory), the closest
//!   rlimit; a process that maps more gets `ENOMEM`.
//! - pids -> `RLIMIT_NPROC`: since Linux 5.14 the kernel counts it per (user namespace, uid),
//!   and every sandbox has its own user namespace, so it caps the whole sandbox (the init
//!   process counts too). `fork` beyond it fails with `EAGAIN`; the host is untouched.
//! - cpu -> nothing: `RLIMIT_CPU` caps total CPU seconds, not a share, so it is not applied.

use rustix::process::{Resource, Rlimit};

use crate::spec::Resources;

/// How each limit is enforced, for `-v` (and `status` later).
pub(crate) fn describe(resources: &Resources, cgroup: bool) -> String {
    let mut parts = Vec::new();
    let via = |cgroup_file: &str, rlimit: &str| {
        if cgroup {
            format!("cgroup {cgroup_file}")
        } else {
            rlimit.to_string()
        }
    };
    if let Some(bytes) = resources.memory_bytes {
        parts.push(format!(
            "memory {bytes} bytes via {}",
            via("memory.max", "RLIMIT_AS (per process)")
        ));
    }
    if let Some(pids) = resources.pids {
        parts.push(format!(
            "pids {pids} via {}",
            via("pids.max", "RLIMIT_NPROC (per sandbox)")
        ));
    }
    if let Some(cpu) = resources.cpu {
        if cgroup {
            parts.push(format!("cpu {cpu} via cgroup cpu.max"));
        } else {
            parts.push(format!(
                "cpu {cpu}: not applied (needs a delegated cgroup v2 subtree; no rlimit equivalent)"
            ));
        }
    }
    if parts.is_empty() {
        "limits: none requested".into()
    } else {
        format!("limits: {}", parts.join("; "))
    }
}

/// Sets the rlimits for the calling process (inherited by everything it starts).
pub(crate) fn apply_rlimits(resources: &Resources) -> Result<(), String> {
    let set = |resource, value: u64, name: &str| {
        rustix::process::setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
        .map_err(|e| format!("set {name} to {value}: {e}"))
    };
    if let Some(bytes) = resources.memory_bytes {
        set(Resource::As, bytes, "RLIMIT_AS")?;
    }
    if let Some(pids) = resources.pids {
        set(Resource::Nproc, pids, "RLIMIT_NPROC")?;
    }
    Ok(())
}
