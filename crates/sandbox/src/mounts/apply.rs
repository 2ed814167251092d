//! Carrying out a [`MountPlan`] inside the new mount namespace, through the narrow
//! [`MountOps`] trait so the sequencing (private propagation first, new root on a tmpfs,
//! read-only flags right after each bind, pivot, then detaching the host) is unit-tested
//! against a recording fake, and the real kernel is exercised by the end-to-end tests.

use std::io;
use std::path::{Path, PathBuf};

use super::plan::{Action, MountPlan, Step, TmpfsKind};

/// Where the new root is assembled before `pivot_root`: a tmpfs mounted over `/tmp` of the
/// private mount namespace. Host sources are reached through descriptors opened earlier, so
/// shadowing the host's `/tmp` here hides nothing the plan needs.
pub(crate) const BUILD_ROOT: &str = "/tmp";

/// The kernel operations the mount sequence needs. Paths are absolute in the current view.
pub(crate) trait MountOps {
    /// Stops mount events propagating between the host and the sandbox, both ways.
    fn make_private(&mut self) -> io::Result<()>;
    fn mount_tmpfs(&mut self, at: &Path, kind: TmpfsKind) -> io::Result<()>;
    /// The new root's own tmpfs.
    fn mount_root_tmpfs(&mut self, at: &Path) -> io::Result<()>;
    /// Whether `path` exists without following a final symlink: `Some(is_dir)`.
    fn node(&mut self, path: &Path) -> io::Result<Option<bool>>;
    fn create_dir_all(&mut self, path: &Path) -> io::Result<()>;
    fn create_file(&mut self, path: &Path) -> io::Result<()>;
    /// Recursive bind of plan source `source` onto `at`.
    fn bind(&mut self, source: usize, at: &Path) -> io::Result<()>;
    /// Sets `nosuid`, optionally `nodev` and `ro`, on `at` and every mount below it.
    fn restrict(&mut self, at: &Path, read_only: bool, devices: bool) -> io::Result<()>;
    fn symlink(&mut self, points_to: &Path, at: &Path) -> io::Result<()>;
    fn mount_proc(&mut self, at: &Path) -> io::Result<()>;
    fn mount_devpts(&mut self, at: &Path) -> io::Result<()>;
    /// Makes `new_root` the root and detaches the old one entirely.
    fn pivot(&mut self, new_root: &Path) -> io::Result<()>;
    /// Makes the mount at `at` read-only (not the mounts below it).
    fn remount_read_only(&mut self, at: &Path) -> io::Result<()>;
}

/// A failed mount step, naming it.
#[derive(Debug)]
pub(crate) struct MountFailure {
    pub step: String,
    pub source: io::Error,
}

impl std::fmt::Display for MountFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.source)
    }
}

fn fail(step: impl Into<String>) -> impl FnOnce(io::Error) -> MountFailure {
    let step = step.into();
    move |source| MountFailure { step, source }
}

/// Inside path `at` as seen while building (under [`BUILD_ROOT`]).
fn staged(at: &Path) -> PathBuf {
    let relative = at.strip_prefix("/").unwrap_or(at);
    Path::new(BUILD_ROOT).join(relative)
}

/// Builds the root described by `plan` and switches to it.
pub(crate) fn apply(ops: &mut dyn MountOps, plan: &MountPlan) -> Result<(), MountFailure> {
    ops.make_private().map_err(fail("make / private"))?;
    let root = Path::new(BUILD_ROOT);
    ops.mount_root_tmpfs(root)
        .map_err(fail(format!("mount tmpfs at {BUILD_ROOT}")))?;
    for step in &plan.steps {
        apply_step(ops, step)?;
    }
    ops.pivot(root)
        .map_err(fail("pivot_root into the new root"))?;
    for at in ["/", "/dev"] {
        ops.remount_read_only(Path::new(at))
            .map_err(fail(format!("remount {at} read-only")))?;
    }
    Ok(())
}

fn apply_step(ops: &mut dyn MountOps, step: &Step) -> Result<(), MountFailure> {
    let at = staged(&step.at);
    let shown = step.at.display();
    if let Action::Symlink(points_to) = &step.action {
        if let Some(parent) = at.parent() {
            ops.create_dir_all(parent)
                .map_err(fail(format!("create {}", parent.display())))?;
        }
        return ops
            .symlink(points_to, &at)
            .map_err(fail(format!("symlink {shown} -> {}", points_to.display())));
    }
    let dir = match step.action {
        Action::Bind { dir, .. } => dir,
        _ => true,
    };
    ensure_mount_point(ops, &at, dir, step.create).map_err(fail(format!("mount point {shown}")))?;
    match &step.action {
        Action::Tmpfs(kind) => ops
            .mount_tmpfs(&at, *kind)
            .map_err(fail(format!("mount tmpfs at {shown}"))),
        Action::Bind {
            source,
            read_only,
            devices,
            ..
        } => {
            ops.bind(*source, &at)
                .map_err(fail(format!("bind {shown}")))?;
            ops.restrict(&at, *read_only, *devices)
                .map_err(fail(format!("restrict {shown}")))
        }
        Action::Proc => ops
            .mount_proc(&at)
            .map_err(fail(format!("mount proc at {shown}"))),
        Action::Devpts => ops
            .mount_devpts(&at)
            .map_err(fail(format!("mount devpts at {shown}"))),
        Action::Symlink(_) => Ok(()),
    }
}

fn ensure_mount_point(
    ops: &mut dyn MountOps,
    at: &Path,
    dir: bool,
    create: bool,
) -> io::Result<()> {
    match ops.node(at)? {
        Some(is_dir) if is_dir == dir => Ok(()),
        Some(_) => Err(io::Error::other(if dir {
            "exists and is not a directory"
        } else {
            "exists and is a directory"
        })),
        None if !create => Err(io::Error::other(
            "does not exist inside a bound host directory (cordon never creates files there)",
        )),
        None if dir => ops.create_dir_all(at),
        None => {
            if let Some(parent) = at.parent() {
                ops.create_dir_all(parent)?;
            }
            ops.create_file(at)
        }
    }
}

#[cfg(test)]
mod tests;
