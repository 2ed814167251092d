//! The mount plan: which mounts make up the sandbox's root, in which order, decided on the
//! host before any namespace exists. Pure data, so the ordering rules are unit-tested without
//! privileges; `apply.rs` carries it out.
//!
//! Rules the plan guarantees:
//! - a parent is mounted before anything below it (paths are ordered component-wise);
//! - mount points are only ever *created* on the sandbox's own tmpfs mounts, never inside a
//!   bind of a host directory (that would write to the host) and never below a symlink;
//! - a policy path that is a symlink on the host (Debian's `/lib -> usr/lib`) becomes the
//!   same symlink inside, so it resolves within the sandbox view and never to the host;
//! - `/proc`, `/dev` and `/tmp` are always the sandbox's own (fresh procfs, minimal devices,
//!   private tmpfs), whatever the policy lists for them.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::SandboxError;
use crate::spec::{LandlockMode, WORKDIR_INSIDE};

/// Device nodes bound from the host into the minimal `/dev`.
pub(crate) const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Host paths the policy named, as the planner needs them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanInput {
    pub read_only: Vec<PathBuf>,
    pub read_write: Vec<PathBuf>,
    /// Host workdir for `/sandbox`.
    pub workdir: Option<PathBuf>,
    /// `(inside, host)` single files mounted read-only.
    pub extra_ro_files: Vec<(PathBuf, PathBuf)>,
}

/// Which kind of tmpfs a step mounts (each has its own mode and flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TmpfsKind {
    /// `/tmp` and `/dev/shm`: world-writable, sticky, no devices or setuid.
    Scratch,
    /// `/dev`: holds device binds and symlinks only.
    Dev,
}

/// One mount operation at `at` (an absolute path inside the sandbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub at: PathBuf,
    /// The mount point may be created: it lies on one of the sandbox's own tmpfs mounts.
    /// Otherwise it must already exist (inside a bind of a host directory).
    pub create: bool,
    pub action: Action,
}

/// What a step mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Tmpfs(TmpfsKind),
    /// Bind host source `source` (index into [`MountPlan::sources`]).
    Bind {
        source: usize,
        read_only: bool,
        /// Directory (else a single file): decides how a mount point is created.
        dir: bool,
        /// Keep device nodes usable (only for `/dev` entries).
        devices: bool,
    },
    Symlink(PathBuf),
    Proc,
    Devpts,
}

/// The whole plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MountPlan {
    /// Host paths to open (`O_PATH`) before entering the namespaces.
    pub sources: Vec<PathBuf>,
    pub steps: Vec<Step>,
    /// Paths inside the sandbox Landlock allows reading (and executing).
    pub landlock_read: Vec<PathBuf>,
    /// Paths inside the sandbox Landlock allows writing.
    pub landlock_write: Vec<PathBuf>,
    /// Skipped entries, for the user.
    pub warnings: Vec<String>,
}

/// What the planner learned about one host path.
enum HostNode {
    Missing,
    Symlink(PathBuf),
    Dir(PathBuf),
    File(PathBuf),
}

fn inspect(path: &Path) -> std::io::Result<HostNode> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(HostNode::Missing),
        Err(err) => return Err(err),
    };
    if meta.file_type().is_symlink() {
        return Ok(HostNode::Symlink(std::fs::read_link(path)?));
    }
    let canonical = std::fs::canonicalize(path)?;
    Ok(if meta.is_dir() {
        HostNode::Dir(canonical)
    } else {
        HostNode::File(canonical)
    })
}

/// What one inside path becomes, before ordering.
#[derive(Debug, Clone)]
enum Entry {
    Host {
        source: PathBuf,
        read_only: bool,
        dir: bool,
        devices: bool,
    },
    Symlink(PathBuf),
    Tmpfs(TmpfsKind),
    Proc,
    Devpts,
}

/// Paths the sandbox always provides itself; a policy entry at or below them is covered.
fn owned_by_sandbox(path: &Path) -> bool {
    let dev_owned = |rest: &Path| {
        let first = rest.components().next();
        match first {
            None => true,
            Some(Component::Normal(name)) => {
                let name = name.to_string_lossy();
                DEVICES.contains(&name.as_ref()) || matches!(name.as_ref(), "pts" | "ptmx" | "shm")
            }
            Some(_) => false,
        }
    };
    path == Path::new("/tmp")
        || path.starts_with("/proc")
        || path.strip_prefix("/dev").map(dev_owned).unwrap_or(false)
}

/// Builds the plan. `Err` only for hard failures (I/O errors, or a missing path under
/// `hard_requirement`); skipped entries land in `warnings`.
pub(crate) fn plan(input: &PlanInput, mode: LandlockMode) -> Result<MountPlan, SandboxError> {
    let mut entries: BTreeMap<PathBuf, Entry> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut landlock_read = Vec::new();
    let mut landlock_write = Vec::new();

    // Lowest priority first: a later insert for the same inside path wins.
    let policy = input
        .read_only
        .iter()
        .map(|p| (p, true))
        .chain(input.read_write.iter().map(|p| (p, false)));
    let policy = expand_root(policy)?;
    for (path, read_only) in &policy {
        let (path, read_only) = (path, *read_only);
        if !path.is_absolute() {
            return Err(SandboxError::InvalidSpec(format!(
                "policy path {} is not absolute",
                path.display()
            )));
        }
        let path = normalize(path);
        if owned_by_sandbox(&path) {
            continue;
        }
        let node = match path.strip_prefix(WORKDIR_INSIDE) {
            // OpenShell and NemoClaw policies name the workdir `/sandbox`: a path at or
            // below it means the workdir (or a directory in it), never a host `/sandbox`.
            Ok(rest) => match inside_workdir(input.workdir.as_deref(), rest) {
                Ok(None) => continue, // `/sandbox` itself: the workdir mount below
                Ok(Some(node)) => node,
                Err(reason) => {
                    warnings.push(format!("{}: {reason}; skipped", path.display()));
                    continue;
                }
            },
            Err(_) => inspect(&path)
                .map_err(|e| SandboxError::setup(format!("inspect {}", path.display()), e))?,
        };
        let (source, dir) = match node {
            HostNode::Missing => {
                let place = if path.starts_with(WORKDIR_INSIDE) {
                    "in the workdir"
                } else {
                    "on the host"
                };
                let what = format!("{} does not exist {place}", path.display());
                if mode == LandlockMode::HardRequirement {
                    return Err(SandboxError::Landlock(format!(
                        "{what} (remove it from the policy or use landlock.compatibility: best_effort)"
                    )));
                }
                warnings.push(format!("{what}; skipped"));
                continue;
            }
            HostNode::Symlink(points_to) => {
                entries.insert(path, Entry::Symlink(points_to));
                continue;
            }
            HostNode::Dir(source) => (source, true),
            HostNode::File(source) => (source, false),
        };
        let devices = path.starts_with("/dev");
        if read_only {
            landlock_read.push(path.clone());
        } else {
            landlock_write.push(path.clone());
        }
        entries.insert(
            path,
            Entry::Host {
                source,
                read_only,
                dir,
                devices,
            },
        );
    }

    merged_usr_links(Path::new("/"), &mut entries);

    for (inside, host) in &input.extra_ro_files {
        let source = std::fs::canonicalize(host)
            .map_err(|e| SandboxError::setup(format!("extra file {}", host.display()), e))?;
        let inside = normalize(inside);
        landlock_read.push(inside.clone());
        entries.insert(
            inside,
            Entry::Host {
                source,
                read_only: true,
                dir: false,
                devices: false,
            },
        );
    }

    if let Some(workdir) = &input.workdir {
        let source = std::fs::canonicalize(workdir)
            .map_err(|e| SandboxError::setup(format!("workdir {}", workdir.display()), e))?;
        entries.insert(
            PathBuf::from(WORKDIR_INSIDE),
            Entry::Host {
                source,
                read_only: false,
                dir: true,
                devices: false,
            },
        );
        landlock_write.push(PathBuf::from(WORKDIR_INSIDE));
    }
    pin_parents_in_workdir(input, &mut entries);

    // The sandbox's own mounts, highest priority.
    entries.insert("/tmp".into(), Entry::Tmpfs(TmpfsKind::Scratch));
    entries.insert("/proc".into(), Entry::Proc);
    entries.insert("/dev".into(), Entry::Tmpfs(TmpfsKind::Dev));
    for name in DEVICES {
        entries.insert(
            Path::new("/dev").join(name),
            Entry::Host {
                source: Path::new("/dev").join(name),
                read_only: false,
                dir: false,
                devices: true,
            },
        );
    }
    entries.insert("/dev/pts".into(), Entry::Devpts);
    entries.insert("/dev/ptmx".into(), Entry::Symlink("pts/ptmx".into()));
    entries.insert("/dev/shm".into(), Entry::Tmpfs(TmpfsKind::Scratch));
    entries.insert("/dev/fd".into(), Entry::Symlink("/proc/self/fd".into()));
    for (i, name) in ["stdin", "stdout", "stderr"].into_iter().enumerate() {
        entries.insert(
            Path::new("/dev").join(name),
            Entry::Symlink(format!("/proc/self/fd/{i}").into()),
        );
    }
    landlock_write.extend(["/tmp", "/dev"].map(PathBuf::from));
    landlock_read.push("/proc".into());

    let mut plan = MountPlan {
        warnings,
        landlock_read,
        landlock_write,
        ..MountPlan::default()
    };
    order(entries, &mut plan);
    Ok(plan)
}

/// Top-level names that merged-/usr hosts make symlinks into `/usr` (`/bin -> usr/bin`).
const MERGED_USR_LINKS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Recreates the merged-/usr links of `root` whose target the policy already makes
/// visible, when the policy does not list the link itself. Policies written for
/// OpenShell/NemoClaw list `/usr` and `/lib` but not `/lib64`, where the ELF
/// interpreter (`/lib64/ld-linux-x86-64.so.2`) is looked up: without the link no
/// dynamically linked program could start. A link resolves inside the sandbox's own
/// view, so it grants nothing the policy did not.
fn merged_usr_links(root: &Path, entries: &mut BTreeMap<PathBuf, Entry>) {
    for name in MERGED_USR_LINKS {
        let inside = Path::new("/").join(name);
        if entries.contains_key(&inside) {
            continue;
        }
        let Ok(points_to) = std::fs::read_link(root.join(name)) else {
            continue; // missing, or a real directory (not merged): only the policy decides
        };
        if points_to
            .components()
            .any(|c| matches!(c, Component::ParentDir))
        {
            continue;
        }
        let target = normalize(&Path::new("/").join(&points_to));
        let visible = entries.iter().any(|(at, entry)| {
            matches!(entry, Entry::Host { dir: true, .. }) && target.starts_with(at)
        });
        if visible {
            entries.insert(inside, Entry::Symlink(points_to));
        }
    }
}

/// What a policy path below `/sandbox` names: `rest` inside the workdir. `Ok(None)` for
/// the workdir itself (mounted by the plan anyway); `Err` says why it is skipped. A
/// path through a symlink is refused: the workdir is the agent's to write, and a link
/// it planted in an earlier run must not turn into a bind of a host path.
fn inside_workdir(workdir: Option<&Path>, rest: &Path) -> Result<Option<HostNode>, String> {
    let Some(workdir) = workdir else {
        return Err("the workdir is not part of this sandbox (include_workdir: false)".into());
    };
    if rest.as_os_str().is_empty() {
        return Ok(None);
    }
    let base = std::fs::canonicalize(workdir).map_err(|e| format!("workdir: {e}"))?;
    let host = base.join(rest);
    match inspect(&host) {
        Ok(HostNode::Symlink(_)) => Err("is a symlink in the workdir".into()),
        Ok(HostNode::Dir(source)) | Ok(HostNode::File(source)) if source != host => {
            Err("leads through a symlink in the workdir".into())
        }
        Ok(node) => Ok(Some(node)),
        Err(e) => Err(e.to_string()),
    }
}

/// A read-only file inside the writable workdir (an agent's configuration in its state
/// directory) is only as fixed as the directory holding it: the agent could rename the
/// directory away and put its own file in a new one. Each such directory is therefore
/// bound onto itself, read-write: a mount point cannot be renamed or removed by a process
/// without CAP_SYS_ADMIN over the mount namespace, and the agent has none. A directory
/// that is missing, is a symlink or leads through one is left alone (never followed).
fn pin_parents_in_workdir(input: &PlanInput, entries: &mut BTreeMap<PathBuf, Entry>) {
    for (inside, _) in &input.extra_ro_files {
        let inside = normalize(inside);
        // Every directory between the workdir and the file: pinning only the nearest
        // would leave its parent renameable, and the pin with it.
        for dir in inside.ancestors().skip(1) {
            let Ok(rest) = dir.strip_prefix(WORKDIR_INSIDE) else {
                break;
            };
            if rest.as_os_str().is_empty() {
                break;
            }
            if entries.contains_key(dir) {
                continue;
            }
            // Missing, a file, or through a symlink: nothing to pin there.
            if let Ok(Some(HostNode::Dir(source))) = inside_workdir(input.workdir.as_deref(), rest)
            {
                entries.insert(
                    dir.to_path_buf(),
                    Entry::Host {
                        source,
                        read_only: false,
                        dir: true,
                        devices: false,
                    },
                );
            }
        }
    }
}

/// Turns the entries into steps, parents first, deciding where mount points may be created.
fn order(entries: BTreeMap<PathBuf, Entry>, plan: &mut MountPlan) {
    // BTreeMap iterates paths component-wise, so every ancestor comes before its descendants.
    let mut mounted: Vec<(PathBuf, bool)> = Vec::new(); // (inside path, is our own tmpfs)
    let mut symlinks: Vec<PathBuf> = Vec::new();
    for (at, entry) in entries {
        if let Some(link) = symlinks.iter().find(|l| at.starts_with(l)) {
            plan.warnings.push(format!(
                "{} lies below the symlink {}; skipped",
                at.display(),
                link.display()
            ));
            plan.landlock_read.retain(|p| p != &at);
            plan.landlock_write.retain(|p| p != &at);
            continue;
        }
        // The nearest mounted ancestor decides whether we may create the mount point.
        let create = mounted
            .iter()
            .rev()
            .find(|(p, _)| at.starts_with(p))
            .is_none_or(|(_, own)| *own); // the root itself is our tmpfs
        let action = match entry {
            Entry::Host {
                source,
                read_only,
                dir,
                devices,
            } => {
                plan.sources.push(source);
                mounted.push((at.clone(), false));
                Action::Bind {
                    source: plan.sources.len() - 1,
                    read_only,
                    dir,
                    devices,
                }
            }
            Entry::Symlink(points_to) => {
                symlinks.push(at.clone());
                if !create {
                    // Inside a bind of the host directory that already holds this symlink.
                    continue;
                }
                Action::Symlink(points_to)
            }
            Entry::Tmpfs(kind) => {
                mounted.push((at.clone(), true));
                Action::Tmpfs(kind)
            }
            Entry::Proc => {
                mounted.push((at.clone(), false));
                Action::Proc
            }
            Entry::Devpts => {
                mounted.push((at.clone(), false));
                Action::Devpts
            }
        };
        plan.steps.push(Step { at, create, action });
    }
}

/// One line per kind of mount, for `-v`.
pub(crate) fn describe(plan: &MountPlan) -> Vec<String> {
    let mut read_only = Vec::new();
    let mut read_write = Vec::new();
    let mut links = Vec::new();
    for step in &plan.steps {
        let at = step.at.display().to_string();
        match &step.action {
            Action::Bind { devices: true, .. } => {}
            Action::Bind {
                read_only: true, ..
            } => read_only.push(at),
            Action::Bind { .. } => read_write.push(at),
            Action::Symlink(to) if !step.at.starts_with("/dev") => {
                links.push(format!("{at} -> {}", to.display()))
            }
            _ => {}
        }
    }
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(" ")
        }
    };
    vec![
        "mounts: new root on a private tmpfs (read-only), host tree detached after pivot_root, \
         nosuid everywhere, nodev outside /dev"
            .to_string(),
        format!("mounts: read-only: {}", list(read_only)),
        format!("mounts: read-write: {}", list(read_write)),
        format!("mounts: symlinks recreated: {}", list(links)),
        "mounts: own: /tmp (private tmpfs), /proc (fresh), /dev (null zero full random urandom \
         tty, devpts pts+ptmx, shm)"
            .to_string(),
    ]
}

/// A policy listing `/` itself gets each top-level host entry instead: the sandbox's root
/// must stay its own tmpfs so `/sandbox`, `/tmp`, `/proc` and `/dev` can be placed on it.
fn expand_root<'a>(
    policy: impl Iterator<Item = (&'a PathBuf, bool)>,
) -> Result<Vec<(PathBuf, bool)>, SandboxError> {
    let mut out = Vec::new();
    for (path, read_only) in policy {
        if normalize(path) != Path::new("/") {
            out.push((path.clone(), read_only));
            continue;
        }
        let dir = std::fs::read_dir("/").map_err(|e| SandboxError::setup("read /", e))?;
        for child in dir {
            let child = child.map_err(|e| SandboxError::setup("read /", e))?;
            out.push((Path::new("/").join(child.file_name()), read_only));
        }
    }
    Ok(out)
}

/// Removes `.` components and trailing slashes (`..` is rejected by policy validation, and
/// would only ever be resolved against the host here, so it is kept literally).
fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests;
