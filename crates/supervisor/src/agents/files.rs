//! Laying a prepared agent down on disk: its state directories in the workdir (the
//! agent's home), and the files cordon generates for it.
//!
//! A generated file lives in the sandbox's own directory (outside the sandbox) and is
//! bind-mounted read-only over the same path in the workdir, so the agent reads it at
//! the path it expects but can neither change it nor, by replacing what lies at that
//! path between runs, change what the next start mounts: every start mounts cordon's
//! copy again. The bind needs an existing mount point inside the workdir (mounts are
//! never created inside a host bind), which [`ensure_mount_points`] recreates at every
//! start in case the agent removed it, refusing symlinks so a prepared link cannot
//! make cordon create files elsewhere on the host.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use cordon_sandbox::WORKDIR_INSIDE;

use super::Prepared;
use crate::error::SupervisorError;

/// Host uid/gid that files created for the agent get (root runs only).
pub type Owner = Option<(u32, u32)>;

/// Creates the state directories and generated files of `prepared`. Files are written
/// to `agent_dir` (which is `agent_dir_final` once the sandbox's directory is in
/// place); returns the `(inside, host)` pairs to mount read-only at every start.
pub fn install(
    prepared: &Prepared,
    workdir: &Path,
    agent_dir: &Path,
    agent_dir_final: &Path,
    owner: Owner,
) -> Result<Vec<(PathBuf, PathBuf)>, SupervisorError> {
    for dir in &prepared.state_dirs {
        ensure_dirs(workdir, dir, owner)?;
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
    for (index, file) in prepared.files.iter().enumerate() {
        let base = file
            .relative
            .file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
        let stored = format!("{index}-{base}");
        write_new(&agent_dir.join(&stored), &file.contents, None)?;
        // The host's view of the workdir shows the same contents.
        let at = checked_join(workdir, &file.relative)?;
        if let Some(parent) = file.relative.parent() {
            ensure_dirs(workdir, parent, owner)?;
        }
        refuse_symlink(&at)?;
        write_new(&at, &file.contents, owner)?;
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
        if let Some(parent) = relative.parent() {
            ensure_dirs(workdir, parent, owner)?;
        }
        let at = checked_join(workdir, relative)?;
        refuse_symlink(&at)?;
        if std::fs::symlink_metadata(&at).is_err() {
            write_new(&at, "", owner)?;
        }
    }
    Ok(())
}

/// `workdir/relative`, refusing `..` and absolute parts.
fn checked_join(workdir: &Path, relative: &Path) -> Result<PathBuf, SupervisorError> {
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(SupervisorError::state(
            relative,
            std::io::Error::other("not a plain relative path"),
        ));
    }
    Ok(workdir.join(relative))
}

fn refuse_symlink(path: &Path) -> Result<(), SupervisorError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(SupervisorError::state(
            path,
            std::io::Error::other("is a symlink; refusing to follow it (remove it)"),
        )),
        _ => Ok(()),
    }
}

/// Creates each directory of `relative` below `workdir` that is missing (0700, given
/// to `owner`); refuses symlinks and non-directories on the way.
fn ensure_dirs(workdir: &Path, relative: &Path, owner: Owner) -> Result<(), SupervisorError> {
    let mut at = workdir.to_path_buf();
    for component in checked_join(Path::new(""), relative)?.components() {
        at.push(component);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(SupervisorError::state(
                    &at,
                    std::io::Error::other("exists and is not a directory (a symlink is refused)"),
                ));
            }
            Err(_) => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&at)
                    .map_err(|e| SupervisorError::state(&at, e))?;
                chown(&at, owner)?;
            }
        }
    }
    Ok(())
}

/// Writes `contents` to `path` (0644, replacing a regular file, never following a
/// symlink), given to `owner`.
fn write_new(path: &Path, contents: &str, owner: Owner) -> Result<(), SupervisorError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| SupervisorError::state(path, e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| SupervisorError::state(path, e))?;
    drop(file);
    chown(path, owner)
}

fn chown(path: &Path, owner: Owner) -> Result<(), SupervisorError> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .map_err(|e| SupervisorError::state(path, e))?;
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
}
