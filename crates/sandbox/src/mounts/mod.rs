//! The sandbox's filesystem view: a new root on a tmpfs holding only what the policy lists,
//! plus the sandbox's own `/tmp`, `/proc`, `/dev` and `/sandbox`.
//!
//! - `plan`: decides the mounts from host paths (pure, unit-tested);
//! - `apply`: performs a plan through the `MountOps` trait (sequencing, unit-tested with a fake);
//! - `linux`: the real `MountOps`;
//! - `idmapped`: as root, the workdir mounted so its owner's files are the agent's.

pub(crate) mod apply;
// Process creation: a helper process in a new user namespace (`clone` is unsafe).
#[allow(unsafe_code)]
pub(crate) mod idmapped;
pub(crate) mod linux;
pub(crate) mod plan;
