//! Laying a prepared agent down on disk: its state directories in the workdir (the
//! agent's home), and the files cordon generates for it.
//!
//! A generated file lives in the sandbox's own directory (outside the sandbox) and is
//! bind-mounted read-only over the same path in the workdir, so the agent reads it at
//! the path it expects but can neither change it nor, by replacing what lies at that
//! path between runs, change what the next start mounts: every start mounts cordon's
//! copy again. The bind needs an existing mount point inside the workdir (mounts are
//! never created inside a host bind), which [`ensure_mount_points`] recreates at every
//! start in case the agent removed it.
//!
//! The workdir is writable by agents, possibly one running right now in another
//! sandbox, so nothing here resolves a path below it twice: each directory is opened
//! from its parent's descriptor with `O_NOFOLLOW` and files are created relative to
//! that descriptor. A symlink (or a swap to one mid-walk) anywhere below the workdir
//! is refused instead of followed, so cordon never creates or changes a file elsewhere
//! on the host on an agent's behalf.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use cordon_sandbox::WORKDIR_INSIDE;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::Prepared;
use crate::error::SupervisorError;

/// Host uid/gid that files created for the agent get (root runs only).
pub type Owner = Option<(u32, u32)>;

/// Creates the state directories and generated files of `prepared`. Files are written
/// to `agent_dir` (which is `agent_dir_final` once the sandbox's directory is in
/// place); returns the `(inside, host)` pairs to mount read-only at every start.
///
/// The host's view of the workdir gets a copy of each file too, unless a non-empty file
/// is already there (the user's own configuration, say): that one is left as it is on
/// the host and only serves as the mount point; inside, cordon's copy covers it.
pub fn install(
    prepared: &Prepared,
    workdir: &Path,
    agent_dir: &Path,
    agent_dir_final: &Path,
    owner: Owner,
) -> Result<Vec<(PathBuf, PathBuf)>, SupervisorError> {
    for dir in &prepared.state_dirs {
        open_dirs(workdir, dir, owner)?;
    }
    let mut mounts = Vec::new();
    if prepared.files.is_empty() {
        return Ok(mounts);
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(agent_dir)
        .map_err(|e| SupervisorError::state(agent_dir, e))?;
    let agent_fd = open_dir(agent_dir)?;
    for (index, file) in prepared.files.iter().enumerate() {
        let (parent, name) = split(&file.relative)?;
        let stored = format!("{index}-{}", name.to_string_lossy());
        write_at(
            &agent_fd,
            agent_dir,
            Path::new(&stored),
            &file.contents,
            None,
            Existing::Replace,
        )?;
        let dir = open_dirs(workdir, parent, owner)?;
        write_at(
            &dir,
            &workdir.join(parent),
            Path::new(name),
            &file.contents,
            owner,
            Existing::KeepIfNotEmpty,
        )?;
        mounts.push((
            Path::new(WORKDIR_INSIDE).join(&file.relative),
            agent_dir_final.join(&stored),
        ));
    }
    Ok(mounts)
}

/// Before a start: makes sure each mount point below `/sandbox` exists in `workdir`
/// (an empty file, parents as directories owned by `owner`).
pub fn ensure_mount_points(
    workdir: &Path,
    mounts: &[(PathBuf, PathBuf)],
    owner: Owner,
) -> Result<(), SupervisorError> {
    for (inside, _) in mounts {
        let Ok(relative) = inside.strip_prefix(WORKDIR_INSIDE) else {
            continue;
        };
        let (parent, name) = split(relative)?;
        let dir = open_dirs(workdir, parent, owner)?;
        write_at(
            &dir,
            &workdir.join(parent),
            Path::new(name),
            "",
            owner,
            Existing::Keep,
        )?;
    }
    Ok(())
}

/// What [`write_at`] does with a regular file already at the path.
#[derive(Clone, Copy)]
enum Existing {
    Replace,
    KeepIfNotEmpty,
    Keep,
}

/// `relative` as (parent, file name), refusing `..`, absolute and empty paths.
fn split(relative: &Path) -> Result<(&Path, &std::ffi::OsStr), SupervisorError> {
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    match (plain, relative.parent(), relative.file_name()) {
        (true, Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(SupervisorError::state(
            relative,
            std::io::Error::other("not a plain relative path"),
        )),
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, SupervisorError> {
    rustix::fs::open(
        path,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SupervisorError::state(path, e.into()))
}

/// Opens `workdir/relative` one directory at a time without following symlinks,
/// creating what is missing (0700, given to `owner`); refuses symlinks and
/// non-directories on the way.
fn open_dirs(workdir: &Path, relative: &Path, owner: Owner) -> Result<OwnedFd, SupervisorError> {
    let mut dir = open_dir(workdir)?;
    let mut at = workdir.to_path_buf();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(SupervisorError::state(
                relative,
                std::io::Error::other("not a plain relative path"),
            ));
        };
        at.push(name);
        let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
        let next = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                // Only a directory made here is given to `owner`, never one that
                // appeared in between.
                let made = match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => true,
                    Err(Errno::EXIST) => false,
                    Err(e) => return Err(SupervisorError::state(&at, e.into())),
                };
                let fd = rustix::fs::openat(&dir, name, flags, Mode::empty())
                    .map_err(|e| not_a_directory(&at, e))?;
                if made {
                    chown(&fd, &at, owner)?;
                }
                fd
            }
            Err(e) => return Err(not_a_directory(&at, e)),
        };
        dir = next;
    }
    Ok(dir)
}

fn not_a_directory(at: &Path, errno: Errno) -> SupervisorError {
    if matches!(errno, Errno::LOOP | Errno::NOTDIR) {
        SupervisorError::state(
            at,
            std::io::Error::other("exists and is not a directory (a symlink is refused)"),
        )
    } else {
        SupervisorError::state(at, errno.into())
    }
}

/// Writes `contents` to `name` in `dir` (0644, never following a symlink, refusing
/// anything but a regular file; a FIFO cannot stall it). A file cordon creates is given
/// to `owner`; an existing one keeps its owner, is only looked at (not even opened for
/// writing: it may be the user's own, read-only) unless `existing` says to write it,
/// and is never written through a second hard link. `shown` names the directory in
/// errors.
fn write_at(
    dir: &OwnedFd,
    shown: &Path,
    name: &Path,
    contents: &str,
    owner: Owner,
    existing: Existing,
) -> Result<(), SupervisorError> {
    let at = shown.join(name);
    let refuse = |why: &str| SupervisorError::state(&at, std::io::Error::other(why.to_owned()));
    let io = |e: Errno| SupervisorError::state(&at, e.into());
    let write_flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let look = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let seen = match rustix::fs::openat(dir, name, look, Mode::empty()) {
        Ok(fd) => Some(rustix::fs::fstat(&fd).map_err(io)?),
        Err(Errno::NOENT) => None,
        Err(e) => return Err(io(e)),
    };
    let Some(seen) = seen else {
        let fd = rustix::fs::openat(
            dir,
            name,
            write_flags | OFlags::CREATE | OFlags::EXCL,
            Mode::from_raw_mode(0o644),
        )
        .map_err(io)?;
        let mut file = std::fs::File::from(fd);
        file.write_all(contents.as_bytes())
            .map_err(|e| SupervisorError::state(&at, e))?;
        return chown(file.as_fd(), &at, owner);
    };
    match rustix::fs::FileType::from_raw_mode(seen.st_mode) {
        rustix::fs::FileType::RegularFile => {}
        rustix::fs::FileType::Symlink => {
            return Err(refuse("is a symlink; refusing to follow it (remove it)"));
        }
        _ => return Err(refuse("is not a regular file (remove it)")),
    }
    let write = match existing {
        Existing::Replace => true,
        Existing::KeepIfNotEmpty => seen.st_size == 0,
        Existing::Keep => false,
    };
    if !write {
        return Ok(());
    }
    if seen.st_nlink > 1 {
        return Err(refuse(
            "has other hard links; refusing to write it (remove it)",
        ));
    }
    let fd = rustix::fs::openat(dir, name, write_flags, Mode::empty()).map_err(|e| {
        if e == Errno::LOOP {
            refuse("is a symlink; refusing to follow it (remove it)")
        } else {
            io(e)
        }
    })?;
    let now = rustix::fs::fstat(&fd).map_err(io)?;
    if (now.st_dev, now.st_ino) != (seen.st_dev, seen.st_ino) {
        return Err(refuse("changed while cordon was writing it; try again"));
    }
    rustix::fs::ftruncate(&fd, 0).map_err(io)?;
    std::fs::File::from(fd)
        .write_all(contents.as_bytes())
        .map_err(|e| SupervisorError::state(&at, e))
}

fn chown(fd: impl AsFd, at: &Path, owner: Owner) -> Result<(), SupervisorError> {
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(|e| SupervisorError::state(at, e.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mount_points_are_recreated_but_never_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let workdir = tmp.path().join("w");
        std::fs::create_dir(&workdir).unwrap();
        let mounts = [(
            PathBuf::from("/sandbox/.agent/config.json"),
            PathBuf::from("/x"),
        )];
        ensure_mount_points(&workdir, &mounts, None).unwrap();
        assert!(workdir.join(".agent/config.json").is_file());
        // Blocked twin: the agent swapped its state directory for a link out.
        std::fs::remove_dir_all(workdir.join(".agent")).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, workdir.join(".agent")).unwrap();
        assert!(ensure_mount_points(&workdir, &mounts, None).is_err());
        assert!(!outside.join("config.json").exists());
    }

    #[test]
    fn a_fifo_or_a_symlinked_file_at_the_mount_point_is_refused_without_stalling() {
        let tmp = tempfile::tempdir().unwrap();
        let workdir = tmp.path().join("w");
        std::fs::create_dir_all(workdir.join(".agent")).unwrap();
        let mounts = [(
            PathBuf::from("/sandbox/.agent/config.json"),
            PathBuf::from("/x"),
        )];
        let at = workdir.join(".agent/config.json");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &at,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let err = ensure_mount_points(&workdir, &mounts, None).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
        std::fs::remove_file(&at).unwrap();
        let target = tmp.path().join("target");
        std::fs::write(&target, "host file").unwrap();
        std::os::unix::fs::symlink(&target, &at).unwrap();
        let err = ensure_mount_points(&workdir, &mounts, None).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "host file");
        // Allowed twin: a plain file there is kept as the mount point.
        std::fs::remove_file(&at).unwrap();
        std::fs::write(&at, "mine").unwrap();
        ensure_mount_points(&workdir, &mounts, None).unwrap();
        assert_eq!(std::fs::read_to_string(&at).unwrap(), "mine");
    }

    fn prepared(relative: &str, contents: &str) -> Prepared {
        Prepared {
            policy: cordon_policy::default_policy(),
            policy_text: String::new(),
            policy_source: String::new(),
            command: None,
            env: Vec::new(),
            path_dirs: Vec::new(),
            state_dirs: vec![PathBuf::from(".agent/state")],
            files: vec![super::super::AgentFile {
                relative: PathBuf::from(relative),
                contents: contents.into(),
            }],
            binary: None,
            added_read_only: Vec::new(),
        }
    }

    #[test]
    fn install_keeps_a_users_own_file_and_writes_an_empty_or_missing_one() {
        let tmp = tempfile::tempdir().unwrap();
        let workdir = tmp.path().join("w");
        std::fs::create_dir_all(workdir.join(".agent")).unwrap();
        std::fs::write(workdir.join(".agent/config.json"), "{\"mine\":1}").unwrap();
        let agent = tmp.path().join("agent");
        let p = prepared(".agent/config.json", "{\"cordon\":1}");
        let mounts = install(&p, &workdir, &agent, &agent, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(workdir.join(".agent/config.json")).unwrap(),
            "{\"mine\":1}"
        );
        assert!(workdir.join(".agent/state").is_dir());
        // What is mounted inside is cordon's copy.
        assert_eq!(
            std::fs::read_to_string(&mounts[0].1).unwrap(),
            "{\"cordon\":1}"
        );
        // Twin: an empty file (an old mount point) is filled in.
        std::fs::write(workdir.join(".agent/config.json"), "").unwrap();
        install(&p, &workdir, &agent, &agent, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(workdir.join(".agent/config.json")).unwrap(),
            "{\"cordon\":1}"
        );
    }

    #[test]
    fn install_never_creates_a_directory_through_a_symlinked_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let workdir = tmp.path().join("w");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&workdir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, workdir.join(".agent")).unwrap();
        let agent = tmp.path().join("agent");
        let p = prepared(".agent/config.json", "{}");
        let err = install(&p, &workdir, &agent, &agent, None).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        // Twin: with a real directory there, the same install succeeds.
        std::fs::remove_file(workdir.join(".agent")).unwrap();
        install(&p, &workdir, &agent, &agent, None).unwrap();
        assert!(workdir.join(".agent/config.json").is_file());
    }

    #[test]
    fn a_read_only_file_of_the_users_is_kept_and_a_hard_linked_one_is_never_written() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let workdir = tmp.path().join("w");
        std::fs::create_dir_all(workdir.join(".agent")).unwrap();
        let at = workdir.join(".agent/config.json");
        std::fs::write(&at, "{\"mine\":1}").unwrap();
        std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o444)).unwrap();
        let agent = tmp.path().join("agent");
        let p = prepared(".agent/config.json", "{}");
        install(&p, &workdir, &agent, &agent, None).unwrap();
        assert_eq!(std::fs::read_to_string(&at).unwrap(), "{\"mine\":1}");
        // An empty mount point with a second link elsewhere is not written through.
        std::fs::remove_file(&at).unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::write(&elsewhere, "").unwrap();
        std::fs::hard_link(&elsewhere, &at).unwrap();
        let err = install(&p, &workdir, &agent, &agent, None).unwrap_err();
        assert!(err.to_string().contains("hard links"), "{err}");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "");
    }
}
