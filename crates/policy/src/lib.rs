//! cordon-policy: the OpenShell v1 policy model, its loader and validator, and the one
//! matching engine every other layer asks "may this go?".
//!
//! The data path: YAML text → `raw` (serde types mirroring the file, with locations)
//! → `validate` (every rule, every problem collected) → [`Policy`] (normalised) →
//! [`CompiledPolicy`] (indexes and globs built once per generation) → decisions.
//! The rules and semantics are documented for operators in `docs/policy.md`.
//!
//! # Layout
//! - `model`: the normalised policy types (what the rest of cordon reads).
//! - `raw`, `load`: the YAML schema and its parse errors (line, column, field path).
//! - `validate`: the semantic rules (`filesystem`, `network`, `rules`).
//! - `error`: problems pinned to file, line, column and field path, with a fix.
//! - `host`, `globs`: host label patterns and the three glob dialects.
//! - `engine`: [`CompiledPolicy`]: host index, connect and request decisions.
//! - `show`, `suggest`: `policy show` output and suggested entries for denials.
//! - `approval`: the entry an operator approval adds to a running policy.
#![forbid(unsafe_code)]

mod approval;
pub mod catalog;
mod engine;
mod error;
mod globs;
mod host;
mod load;
mod model;
mod raw;
mod show;
mod suggest;
mod validate;

use std::path::Path;
use std::sync::OnceLock;

pub use approval::{APPROVAL_KEY_PREFIX, approval_entry, approval_key, with_approval};
pub use engine::{
    CompiledEndpoint, CompiledPolicy, ConnectDecision, DenyReason, EndpointId, RequestDecision,
    Verdict,
};
pub use error::{PolicyError, Problem};
pub use model::{
    Access, BinaryRule, CredentialBinding, Endpoint, Enforcement, FilesystemPolicy, IdSpec,
    InferencePolicy, L7Match, L7Rule, LandlockCompatibility, LandlockPolicy,
    MAX_HOLD_ON_DENY_SECONDS, NetworkPolicy, NetworkSettings, Policy, ProcessPolicy, Protocol,
    QueryMatcher, ResourcesPolicy, TlsMode,
};
pub use suggest::suggest_entry;

/// A successfully loaded policy plus the warnings found while loading it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPolicy {
    /// The validated, normalised policy.
    pub policy: Policy,
    /// Non-fatal problems (deprecated fields, not-yet-enforced protocols).
    pub warnings: Vec<Problem>,
}

/// Parses and validates policy YAML; `origin` names the source in problems (usually
/// the file path as the user wrote it).
///
/// Returns every problem found, not just the first: YAML syntax and shape errors stop
/// parsing (one problem), semantic validation then collects all rule violations.
pub fn parse_str(source: &str, origin: &str) -> Result<LoadedPolicy, PolicyError> {
    // File order reads best: sort by position (stable, so same-position problems
    // keep the order the rules found them).
    let stamp = |mut problems: Vec<Problem>| {
        for problem in &mut problems {
            problem.file = origin.to_owned();
        }
        problems.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column.unwrap_or(usize::MAX)));
        problems
    };
    let raw = load::parse_raw(source).map_err(|err| PolicyError {
        problems: stamp(err.problems),
    })?;
    let mut ctx = validate::Ctx::default();
    let policy = validate::validate(raw, &mut ctx);
    if ctx.errors.is_empty() {
        Ok(LoadedPolicy {
            policy,
            warnings: stamp(ctx.warnings),
        })
    } else {
        Err(PolicyError {
            problems: stamp(ctx.errors),
        })
    }
}

/// Largest policy file cordon reads (4 MiB). Real policies are a few KiB; the cap keeps
/// `cordon policy validate /dev/zero` (or a huge file) from eating memory forever.
pub const MAX_POLICY_BYTES: usize = 4 * 1024 * 1024;

/// Reads a policy file's bytes (at most [`MAX_POLICY_BYTES`] + 1, so an oversized file
/// is detected without reading it all). `Err` only when the file cannot be read at all
/// (missing, a directory, no permission): one problem naming the file, with a fix.
pub fn read_file(path: &Path) -> Result<Vec<u8>, PolicyError> {
    use std::io::Read as _;
    let origin = path.display().to_string();
    let fail = |err: std::io::Error| {
        let hint = match err.kind() {
            std::io::ErrorKind::NotFound => "check the path".to_owned(),
            std::io::ErrorKind::PermissionDenied => format!(
                "make the file readable by the user running cordon (uid {})",
                effective_uid()
            ),
            std::io::ErrorKind::IsADirectory => {
                "give the path of a policy file (YAML), not a directory".to_owned()
            }
            _ => "check the path and its permissions".to_owned(),
        };
        let mut problem = Problem::new("", format!("cannot read policy file: {err}")).hint(hint);
        problem.file = origin.clone();
        PolicyError::single(problem)
    };
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(MAX_POLICY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    Ok(bytes)
}

/// The effective uid, for a permission hint (read from procfs: this crate has no libc).
fn effective_uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// Parses policy bytes as read by [`read_file`]: rejects oversized and non-UTF-8 input
/// with a problem (the latter pinned to the line and column of the first bad byte),
/// then [`parse_str`].
pub fn parse_bytes(bytes: &[u8], origin: &str) -> Result<LoadedPolicy, PolicyError> {
    let fail = |problem: Problem| {
        let mut problem = problem;
        problem.file = origin.to_owned();
        PolicyError::single(problem)
    };
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(fail(
            Problem::new(
                "",
                format!(
                    "the file is larger than {} MiB, the most a policy may be",
                    MAX_POLICY_BYTES / (1024 * 1024)
                ),
            )
            .hint(
                "is this the policy file? Split very long host lists over fewer, wildcard entries",
            ),
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(source) => parse_str(source, origin),
        Err(err) => {
            let valid = &bytes[..err.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            Err(fail(
                Problem::new("", "the file is not UTF-8 text (a binary file?)")
                    .hint("give a policy written as UTF-8 YAML")
                    .at(Some((line, column))),
            ))
        }
    }
}

/// Reads and parses a policy file; an unreadable file is one problem naming the file.
pub fn load_file(path: &Path) -> Result<LoadedPolicy, PolicyError> {
    let bytes = read_file(path)?;
    parse_bytes(&bytes, &path.display().to_string())
}

/// The text of the built-in policy (what `cordon policy show --default` prints).
pub const DEFAULT_POLICY_YAML: &str = include_str!("default.yaml");

/// The built-in policy: deny all network; system directories read-only; workdir and
/// /tmp read-write. Parsed once from the embedded YAML.
pub fn default_policy() -> Policy {
    static DEFAULT: OnceLock<Policy> = OnceLock::new();
    DEFAULT
        .get_or_init(|| match parse_str(DEFAULT_POLICY_YAML, "<default>") {
            Ok(loaded) => loaded.policy,
            // Unreachable (a unit test parses the embedded file), but if it ever
            // happened the safe answer is a policy that grants nothing.
            Err(_) => Policy {
                version: 1,
                filesystem_policy: FilesystemPolicy {
                    include_workdir: false,
                    read_only: Vec::new(),
                    read_write: Vec::new(),
                },
                landlock: LandlockPolicy {
                    compatibility: LandlockCompatibility::HardRequirement,
                },
                process: ProcessPolicy {
                    run_as_user: IdSpec::Sandbox,
                    run_as_group: IdSpec::Sandbox,
                },
                network_policies: Default::default(),
                network_settings: NetworkSettings::default(),
                inference: None,
                resources: ResourcesPolicy::default(),
            },
        })
        .clone()
}

/// Names of the sections that differ between two generations and need a sandbox
/// restart to take effect (filesystem_policy, landlock, process, resources); network
/// sections reload live.
pub fn static_changes(old: &Policy, new: &Policy) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.filesystem_policy != new.filesystem_policy {
        changed.push("filesystem_policy");
    }
    if old.landlock != new.landlock {
        changed.push("landlock");
    }
    if old.process != new.process {
        changed.push("process");
    }
    if old.resources != new.resources {
        changed.push("resources");
    }
    changed
}
