//! `filesystem_policy`: absolute, `..`-free paths; `/` never writable; at most 256.

use std::path::PathBuf;

use super::Ctx;
use crate::model::FilesystemPolicy;
use crate::raw::{RawFilesystem, S, loc};

/// OpenShell's limit on `read_only` + `read_write` entries.
pub(crate) const MAX_PATHS: usize = 256;
/// Longest accepted path (Linux `PATH_MAX`).
const MAX_PATH_LEN: usize = 4096;

pub(super) fn filesystem(raw: Option<&S<RawFilesystem>>, ctx: &mut Ctx) -> FilesystemPolicy {
    let Some(raw) = raw else {
        // Omitted section: cordon's default filesystem (system read-only, workdir and
        // /tmp writable), as OpenShell also defaults `include_workdir` to true here.
        return crate::default_policy().filesystem_policy;
    };
    let read_only = paths(raw.value.read_only.as_deref(), "read_only", ctx);
    let read_write = paths(raw.value.read_write.as_deref(), "read_write", ctx);
    let total = read_only.len() + read_write.len();
    if total > MAX_PATHS {
        ctx.error(
            "filesystem_policy",
            loc(raw),
            format!("{total} paths listed; at most {MAX_PATHS} are allowed"),
            "grant parent directories instead of many individual paths",
        );
    }
    FilesystemPolicy {
        include_workdir: raw.value.include_workdir.unwrap_or(false),
        read_only,
        read_write,
    }
}

fn paths(raw: Option<&[S<String>]>, list: &str, ctx: &mut Ctx) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (i, entry) in raw.unwrap_or_default().iter().enumerate() {
        let field = format!("filesystem_policy.{list}[{i}]");
        if let Some(path) = path(&entry.value, list == "read_write", &field, loc(entry), ctx)
            && !out.contains(&path)
        {
            out.push(path);
        }
    }
    out
}

/// Checks one path and normalises it lexically (`//`, `.` and trailing `/` removed).
fn path(
    raw: &str,
    writable: bool,
    field: &str,
    at: Option<(usize, usize)>,
    ctx: &mut Ctx,
) -> Option<PathBuf> {
    if raw.is_empty() {
        ctx.error(
            field,
            at,
            "path is empty",
            "write an absolute path such as `/tmp`",
        );
        return None;
    }
    if !raw.starts_with('/') {
        ctx.error(
            field,
            at,
            format!("path `{raw}` is not absolute"),
            format!(
                "start it with `/`, e.g. `/{}`",
                raw.trim_start_matches("./")
            ),
        );
        return None;
    }
    if raw.len() > MAX_PATH_LEN {
        ctx.error(
            field,
            at,
            format!("path is longer than {MAX_PATH_LEN} bytes"),
            "use a shorter path",
        );
        return None;
    }
    if raw.contains('\0') {
        ctx.error(field, at, "path contains a NUL byte", "remove it");
        return None;
    }
    let components: Vec<&str> = raw
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if components.contains(&"..") {
        ctx.error(
            field,
            at,
            format!("path `{raw}` contains a `..` component"),
            "write the resolved absolute path without `..`",
        );
        return None;
    }
    if components.is_empty() && writable {
        ctx.error(
            field,
            at,
            "`/` alone is too broad for read_write",
            "list the directories the agent must write, e.g. `/tmp`; `include_workdir: true` adds the working directory",
        );
        return None;
    }
    Some(PathBuf::from(format!("/{}", components.join("/"))))
}
