//! Who the agent is: one id inside the user namespace, mapped to one host id.
//!
//! - Rootless: the invoking user's uid/gid map to the inside ids (the only mapping an
//!   unprivileged process may write), so files the agent creates in the workdir belong to
//!   the invoker on the host.
//! - As root: the agent must never be real root, so the inside ids map to a dedicated,
//!   unprivileged host range: inside id N is host id `ROOT_ID_BASE + N`. No host account
//!   owns those ids, so the agent owns nothing on the host but its fresh workdir (created
//!   owned by that id), and `RLIMIT_NPROC` applies to it (uid 0 would be exempt).

use std::io;

use crate::error::SandboxError;
use crate::spec::Identity;

/// First host id of the range used when cordon runs as root. Chosen inside the range
/// systemd documents as unused (1879048192–2147352575), away from regular users (< 65536),
/// nspawn's container ranges (524288–1879048191) and the "foreign" range (0x7FFE0000).
pub const ROOT_ID_BASE: u32 = 2_000_000_000;

/// Inside ids accepted when running as root (they are offset into the range above).
pub const ROOT_ID_RANGE: u32 = 65_536;

/// One uid and one gid, inside and on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapping {
    /// The ids the agent has inside.
    pub inside: Identity,
    /// The host uid the inside uid is.
    pub host_uid: u32,
    /// The host gid the inside gid is.
    pub host_gid: u32,
    /// cordon runs as root (the mapping is to the dedicated range).
    pub rootful: bool,
}

impl IdMapping {
    /// The mapping for the current process's effective ids.
    pub fn for_invoker(inside: Identity) -> Result<IdMapping, SandboxError> {
        let euid = rustix::process::geteuid().as_raw();
        let egid = rustix::process::getegid().as_raw();
        Self::for_host_ids(inside, euid, egid)
    }

    fn for_host_ids(inside: Identity, euid: u32, egid: u32) -> Result<IdMapping, SandboxError> {
        if euid != 0 {
            return Ok(IdMapping {
                inside,
                host_uid: euid,
                host_gid: egid,
                rootful: false,
            });
        }
        if inside.uid >= ROOT_ID_RANGE || inside.gid >= ROOT_ID_RANGE {
            return Err(SandboxError::InvalidSpec(format!(
                "run_as_user/run_as_group {}/{} must be below {ROOT_ID_RANGE} when cordon runs as root",
                inside.uid, inside.gid
            )));
        }
        Ok(IdMapping {
            inside,
            host_uid: ROOT_ID_BASE + inside.uid,
            host_gid: ROOT_ID_BASE + inside.gid,
            rootful: true,
        })
    }

    /// Writes the maps of the user namespace of `pid`. Rootless, `setgroups` is denied
    /// first (the kernel requires it before an unprivileged gid_map); as root it stays
    /// allowed so the init process can drop root's supplementary groups.
    pub(crate) fn write(&self, pid: i32) -> io::Result<()> {
        let proc = format!("/proc/{pid}");
        if !self.rootful {
            std::fs::write(format!("{proc}/setgroups"), "deny")?;
        }
        std::fs::write(
            format!("{proc}/gid_map"),
            format!("{} {} 1\n", self.inside.gid, self.host_gid),
        )?;
        std::fs::write(
            format!("{proc}/uid_map"),
            format!("{} {} 1\n", self.inside.uid, self.host_uid),
        )
    }

    /// The `-v` description.
    pub(crate) fn describe(&self) -> String {
        format!(
            "uid {} -> host {}, gid {} -> host {}{}",
            self.inside.uid,
            self.host_uid,
            self.inside.gid,
            self.host_gid,
            if self.rootful {
                " (cordon runs as root: dedicated unprivileged host ids)"
            } else {
                " (rootless: the invoking user)"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_maps_the_invoker() {
        let m = IdMapping::for_host_ids(Identity::SANDBOX, 65534, 65534).unwrap();
        assert_eq!((m.host_uid, m.host_gid, m.rootful), (65534, 65534, false));
    }

    #[test]
    fn root_maps_to_the_dedicated_range_never_to_root() {
        let m = IdMapping::for_host_ids(Identity::SANDBOX, 0, 0).unwrap();
        assert_eq!(m.host_uid, ROOT_ID_BASE + 1000);
        assert_ne!(m.host_uid, 0);
        assert!(m.rootful);
    }

    #[test]
    fn root_rejects_ids_outside_the_range() {
        let big = Identity {
            uid: ROOT_ID_RANGE,
            gid: 1000,
        };
        assert!(IdMapping::for_host_ids(big, 0, 0).is_err());
    }
}
