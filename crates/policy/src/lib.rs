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
#![forbid(unsafe_code)]

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

pub use engine::{
    CompiledEndpoint, CompiledPolicy, ConnectDecision, DenyReason, EndpointId, RequestDecision,
    Verdict,
};
pub use error::{PolicyError, Problem};
pub use model::{
    Access, BinaryRule, CredentialBinding, Endpoint, Enforcement, FilesystemPolicy, IdSpec,
    InferencePolicy, L7Match, L7Rule, LandlockCompatibility, LandlockPolicy, NetworkPolicy,
    NetworkSettings, Policy, ProcessPolicy, Protocol, QueryMatcher, ResourcesPolicy, TlsMode,
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

/// Reads and parses a policy file; an unreadable file is one problem naming the file.
pub fn load_file(path: &Path) -> Result<LoadedPolicy, PolicyError> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(source) => parse_str(&source, &origin),
        Err(err) => {
            let mut problem = Problem::new("", format!("cannot read policy file: {err}"))
                .hint("check the path and its permissions");
            problem.file = origin;
            Err(PolicyError::single(problem))
        }
    }
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
