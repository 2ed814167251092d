//! The real [`MountOps`]: rustix for the classic mount calls, `sys` for `mount_setattr`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::StatVfsMountFlags;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use super::apply::MountOps;
use super::plan::TmpfsKind;
use crate::sys;

/// Mount operations on the calling process's (private) mount namespace.
#[derive(Debug)]
pub(crate) struct LinuxMounts {
    /// `O_PATH` descriptors of the plan's host sources, opened before the namespaces were
    /// entered; binding through them means nothing can be swapped under a path in between.
    pub sources: Vec<OwnedFd>,
    /// A detached mount made by the supervisor that replaces the bind of its source
    /// (`idmapped.rs`): moved into place instead.
    pub premade: Option<super::idmapped::Premade>,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("path contains NUL"))
}

/// The flags a bind remount must repeat: the kernel refuses to clear flags that were locked
/// when the mount was inherited into this user namespace.
fn current_flags(at: &Path) -> io::Result<MountFlags> {
    let vfs = rustix::fs::statvfs(at)?;
    let mut flags = MountFlags::empty();
    for (have, want) in [
        (StatVfsMountFlags::RDONLY, MountFlags::RDONLY),
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if vfs.f_flag.contains(have) {
            flags |= want;
        }
    }
    Ok(flags)
}

impl MountOps for LinuxMounts {
    fn make_private(&mut self) -> io::Result<()> {
        rustix::mount::mount_change(
            "/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )?;
        Ok(())
    }

    fn mount_tmpfs(&mut self, at: &Path, kind: TmpfsKind) -> io::Result<()> {
        let (flags, data) = match kind {
            TmpfsKind::Scratch => (MountFlags::NOSUID | MountFlags::NODEV, c"mode=1777"),
            TmpfsKind::Dev => (MountFlags::NOSUID | MountFlags::NOEXEC, c"mode=0755"),
        };
        rustix::mount::mount("tmpfs", at, "tmpfs", flags, Some(data))?;
        Ok(())
    }

    fn mount_root_tmpfs(&mut self, at: &Path) -> io::Result<()> {
        rustix::mount::mount(
            "tmpfs",
            at,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            Some(c"mode=0755"),
        )?;
        Ok(())
    }

    fn node(&mut self, path: &Path) -> io::Result<Option<bool>> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                Err(io::Error::other("is a symlink; refusing to mount over it"))
            }
            Ok(meta) => Ok(Some(meta.is_dir())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn create_file(&mut self, path: &Path) -> io::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map(drop)
    }

    fn bind(&mut self, source: usize, at: &Path) -> io::Result<()> {
        if self.premade.as_ref().is_some_and(|p| p.source == source)
            && let Some(premade) = self.premade.take()
        {
            rustix::mount::move_mount(
                &premade.tree,
                "",
                rustix::fs::CWD,
                at,
                rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
            )?;
            return Ok(());
        }
        let fd = self
            .sources
            .get(source)
            .ok_or_else(|| io::Error::other("unknown mount source"))?;
        let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
        rustix::mount::mount_bind_recursive(via.as_str(), at)?;
        Ok(())
    }

    fn restrict(&mut self, at: &Path, read_only: bool, devices: bool) -> io::Result<()> {
        let mut attrs = sys::MOUNT_ATTR_NOSUID;
        if !devices {
            attrs |= sys::MOUNT_ATTR_NODEV;
        }
        if read_only {
            attrs |= sys::MOUNT_ATTR_RDONLY;
        }
        match sys::mount_setattr_recursive(&c_path(at)?, attrs) {
            Err(err) if err.raw_os_error() == Some(libc::ENOSYS) => {
                // Kernels before 5.12: remount the top mount only. Submounts of a read-only
                // path stay as they are on the host; Landlock still denies writes there.
                let mut flags = current_flags(at)? | MountFlags::BIND | MountFlags::NOSUID;
                if !devices {
                    flags |= MountFlags::NODEV;
                }
                if read_only {
                    flags |= MountFlags::RDONLY;
                }
                rustix::mount::mount_remount(at, flags, "")?;
                Ok(())
            }
            other => other,
        }
    }

    fn symlink(&mut self, points_to: &Path, at: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(points_to, at)
    }

    fn mount_proc(&mut self, at: &Path) -> io::Result<()> {
        rustix::mount::mount(
            "proc",
            at,
            "proc",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        )?;
        Ok(())
    }

    fn mount_devpts(&mut self, at: &Path) -> io::Result<()> {
        // No gid= option: the host's tty group is not mapped in the user namespace.
        rustix::mount::mount(
            "devpts",
            at,
            "devpts",
            MountFlags::NOSUID | MountFlags::NOEXEC,
            Some(c"newinstance,ptmxmode=0666,mode=620"),
        )?;
        Ok(())
    }

    fn pivot(&mut self, new_root: &Path) -> io::Result<()> {
        // pivot_root(".", ".") stacks the old root on top of the new one; detaching "."
        // then removes the whole host tree from this namespace (no /oldroot left behind).
        rustix::process::chdir(new_root)?;
        rustix::process::pivot_root(".", ".")?;
        rustix::mount::unmount(".", UnmountFlags::DETACH)?;
        rustix::process::chdir("/")?;
        Ok(())
    }

    fn remount_read_only(&mut self, at: &Path) -> io::Result<()> {
        let flags = current_flags(at)? | MountFlags::BIND | MountFlags::RDONLY;
        rustix::mount::mount_remount(at, flags, "")?;
        Ok(())
    }
}

/// Opens every plan source as an `O_PATH` descriptor. The paths were canonicalised when the
/// plan was made, so any symlink met now was swapped in since: refuse to follow it.
pub(crate) fn open_sources(sources: &[std::path::PathBuf]) -> io::Result<Vec<OwnedFd>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let flags = OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    sources
        .iter()
        .map(|path| {
            let opened = match rustix::fs::openat2(
                rustix::fs::CWD,
                path,
                flags,
                Mode::empty(),
                ResolveFlags::NO_SYMLINKS,
            ) {
                // Kernels before 5.6: the final component still never follows a symlink.
                Err(rustix::io::Errno::NOSYS) => rustix::fs::open(path, flags, Mode::empty()),
                other => other,
            };
            opened.map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("{}: {e}", path.display()),
                )
            })
        })
        .collect()
}
