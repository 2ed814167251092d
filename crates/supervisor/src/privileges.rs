//! A supervisor started as root gives up what it no longer needs once its sandbox
//! exists: every capability outside a short list leaves its bounding, effective and
//! permitted sets before any other thread starts (threads and a restart's re-exec
//! inherit the narrowed sets). Rootless supervisors hold no capabilities to begin with.
//!
//! What is kept, and why:
//! - `CAP_SYS_PTRACE`, `CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`: the proxy identifies
//!   the calling binary through `/proc/PID/fd` and `/proc/PID/exe` of processes running
//!   as the sandbox's mapped (non-root) ids, and hashes that binary;
//! - `CAP_KILL`: signals to the sandbox's init (`stop`, the end of `cordon run`);
//! - `CAP_FOWNER`: removing the fresh workdir the mapped agent owned;
//! - named sandboxes only, to start the sandbox again under the restart policy:
//!   `CAP_SETUID`/`CAP_SETGID` (writing the root-mode id map), `CAP_SYS_ADMIN` (the
//!   idmapped `--workdir` mount and the sandbox's cgroup), `CAP_CHOWN` (mount points
//!   given to the mapped agent), `CAP_SYS_RESOURCE` (limits the kernel caps for root).

use crate::error::SupervisorError;

const CAP_CHOWN: u32 = 0;
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_FOWNER: u32 = 3;
const CAP_KILL: u32 = 5;
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;

/// What a `cordon run` supervisor keeps.
const RUN: &[u32] = &[
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_KILL,
    CAP_SYS_PTRACE,
];

/// What a named sandbox's supervisor keeps (it may start the sandbox again).
const NAMED: &[u32] = &[
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_KILL,
    CAP_SETGID,
    CAP_SETUID,
    CAP_SYS_PTRACE,
    CAP_SYS_ADMIN,
    CAP_SYS_RESOURCE,
];

/// Which supervisor is narrowing itself.
#[derive(Clone, Copy)]
pub(crate) enum Role {
    Run,
    Named,
}

/// Narrows a root supervisor's capabilities (no-op rootless); returns the `-v` line.
/// An error means the sets could not be narrowed: the caller fails closed.
pub(crate) fn narrow(role: Role) -> Result<Option<String>, SupervisorError> {
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let keep = match role {
        Role::Run => RUN,
        Role::Named => NAMED,
    };
    let kept = cordon_sandbox::retain_capabilities(keep).map_err(|message| {
        SupervisorError::StartFailed {
            kind: crate::error::FailureKind::Cordon,
            message: format!("narrowing the supervisor's capabilities: {message}"),
        }
    })?;
    Ok(Some(format!(
        "supervisor: root, capabilities narrowed to {} of the kernel's (mask {kept:#x})",
        kept.count_ones()
    )))
}
