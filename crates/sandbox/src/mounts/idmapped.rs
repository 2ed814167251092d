//! The `--workdir` of a sandbox started as root, shown to the agent as its own.
//!
//! As root the agent runs as a dedicated unprivileged host id (`idmap.rs`), which owns
//! nothing on the host: a workdir root (or another user) owns would be unreadable and
//! unwritable for it. Rootless, the invoker maps to the agent, so its files are the
//! agent's; this gives root the same: an idmapped mount of the workdir maps the
//! directory's owner to the agent's host id, so the agent reads and writes the workdir
//! as the owner would, and what it creates belongs to that owner on the host. Nothing
//! else changes: the agent's credentials stay unprivileged, and only this one mount is
//! mapped. (Setting setuid/setgid bits, which would then be root's, is refused by
//! seccomp.)
//!
//! The mount is made by the supervisor before the sandbox exists (idmapping a mount needs
//! privilege over the filesystem, which only the host's root has), as a detached mount
//! whose descriptor init inherits and moves into place instead of a bind.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::mount::OpenTreeFlags;

use super::plan::{Action, MountPlan};
use crate::idmap::IdMapping;
use crate::spec::WORKDIR_INSIDE;
use crate::sys;

/// A detached, idmapped copy of the workdir mount and the plan source it replaces.
#[derive(Debug)]
pub(crate) struct Premade {
    /// Index into [`MountPlan::sources`].
    pub source: usize,
    pub tree: OwnedFd,
}

/// The idmapped workdir when cordon runs as root and the workdir belongs to someone else
/// than the agent's host id; `Ok(None)` when no mapping is needed.
///
/// # Safety
/// The process must be single-threaded (a helper process is created with `clone`).
pub(crate) unsafe fn workdir(plan: &MountPlan, ids: &IdMapping) -> io::Result<Option<Premade>> {
    if !ids.rootful {
        return Ok(None);
    }
    let Some(source) = plan.steps.iter().find_map(|step| match step.action {
        Action::Bind { source, .. } if step.at == Path::new(WORKDIR_INSIDE) => Some(source),
        _ => None,
    }) else {
        return Ok(None);
    };
    let path = &plan.sources[source];
    if system_tree(path) {
        return Err(io::Error::other(format!(
            "{} is a system directory: its files stay root's, not the agent's",
            path.display()
        )));
    }
    let meta = std::fs::metadata(path)?;
    if meta.uid() == ids.host_uid && meta.gid() == ids.host_gid {
        return Ok(None); // the fresh per-run workdir, created owned by the agent
    }
    // SAFETY: forwarded contract: single-threaded.
    let userns = unsafe { user_namespace(meta.uid(), meta.gid(), ids) }?;
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        path,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE,
    )?;
    sys::mount_setattr_idmap(tree.as_fd(), userns.as_fd())?;
    Ok(Some(Premade { source, tree }))
}

/// Host trees never handed to the agent as its own, even when named as the workdir:
/// idmapping `/` or `/etc` would give it root's files there.
const SYSTEM_TREES: [&str; 13] = [
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
    "/sbin", "/sys", "/usr",
];

fn system_tree(path: &Path) -> bool {
    path == Path::new("/") || SYSTEM_TREES.iter().any(|tree| path.starts_with(tree))
}

/// A user namespace mapping the workdir's owner (`uid`, `gid`) to the agent's host ids,
/// held by a descriptor. A helper process is created in it only to write its maps; it
/// exits as soon as the descriptor is open.
///
/// # Safety
/// The process must be single-threaded.
unsafe fn user_namespace(uid: u32, gid: u32, ids: &IdMapping) -> io::Result<OwnedFd> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // SAFETY: the caller guarantees a single-threaded process. The child only makes raw
    // system calls (read, _exit), which are safe after clone.
    match unsafe { sys::clone_into_namespaces(libc::CLONE_NEWUSER as u64) }? {
        None => {
            drop(write);
            let _ = rustix::io::read(&read, &mut [0u8; 1]);
            sys::exit_now(0)
        }
        Some(pid) => {
            drop(read);
            let opened = (|| {
                let proc = format!("/proc/{pid}");
                std::fs::write(
                    format!("{proc}/uid_map"),
                    format!("{uid} {} 1\n", ids.host_uid),
                )?;
                std::fs::write(
                    format!("{proc}/gid_map"),
                    format!("{gid} {} 1\n", ids.host_gid),
                )?;
                let ns = std::fs::File::open(format!("{proc}/ns/user"))?;
                Ok(OwnedFd::from(ns))
            })();
            drop(write); // end-of-file: the helper exits
            sys::wait_for(pid)?;
            opened
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_trees_are_never_idmapped() {
        for path in ["/", "/etc", "/etc/ssh", "/usr/local/src", "/proc/1"] {
            assert!(system_tree(Path::new(path)), "{path}");
        }
        for path in [
            "/root/project",
            "/var/tmp/w",
            "/home/me/src",
            "/srv/x",
            "/etcetera",
        ] {
            assert!(!system_tree(Path::new(path)), "{path}");
        }
    }
}
