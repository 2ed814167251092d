//! The agent profiles: one starting policy per agent (YAML beside this file) plus the
//! launch metadata the policy schema has no place for.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::PolicyError;
use crate::model::Policy;

/// The API key agents are given for `inference.local`. The route strips whatever key
/// the caller sends and injects the provider's, so this value only has to look like a
/// key to clients that refuse to start without one; it is never a secret.
pub const INFERENCE_PLACEHOLDER_KEY: &str = "cordon-inference-placeholder";

/// A built-in agent profile: a default policy plus how cordon launches the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// Name used on the command line (`--agent openclaw`).
    pub name: &'static str,
    /// One line for `cordon profile list`.
    pub description: &'static str,
    /// The agent's launch command (argv, looked up on the sandbox's PATH): the main
    /// process of a sandbox created from the profile without a command of its own.
    pub command: &'static [&'static str],
    /// Variables for the main process only, not for the shells of `cordon exec` and
    /// `cordon connect` (cordon launches the command through `/usr/bin/env NAME=VALUE
    /// ...`); `$HOME/` prefixed values are inside the agent's home. OpenClaw needs
    /// this: its gateway holds a lock in its state directory that refuses every
    /// `openclaw agent --local` run sharing that directory, so the gateway gets one of
    /// its own and the shells keep the default.
    pub main_env: &'static [EnvVar],
    /// Directories the agent keeps state in, writable; `$HOME/` prefixed paths are
    /// inside the agent's home (the workdir, `/sandbox`), created before launch.
    pub state_dirs: &'static [&'static str],
    /// Files cordon writes for the agent (its provider configuration) and mounts
    /// read-only, even inside a writable state directory, so the agent cannot rewrite
    /// where its model traffic goes. Landlock cannot express "read-only file inside a
    /// writable directory", so whoever creates the sandbox from the profile must
    /// bind-mount each of them read-only (the sandbox spec's `extra_ro_files`).
    pub read_only_files: &'static [&'static str],
    /// How the agent reaches the model through `inference.local`.
    pub inference: InferenceRoute,
    /// The policy in the OpenShell v1 schema, as shipped (comments included).
    #[serde(skip)]
    pub policy_yaml: &'static str,
}

/// How an agent is pointed at cordon's inference route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InferenceRoute {
    /// The API dialect the agent speaks to the route.
    pub api: InferenceApi,
    /// The base URL the agent is configured with (inside the sandbox).
    pub base_url: &'static str,
    /// Environment variables that point the agent at the route (empty when the agent
    /// is configured through a file instead, see [`Profile::read_only_files`]).
    pub env: &'static [EnvVar],
}

/// One environment variable set for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    /// Variable name.
    pub name: &'static str,
    /// Its value (never a secret: keys are placeholders the route replaces).
    pub value: &'static str,
}

/// API dialects the inference route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InferenceApi {
    /// OpenAI chat completions (`POST /v1/chat/completions`).
    OpenaiCompletions,
    /// OpenAI Responses (`POST /v1/responses`).
    OpenaiResponses,
    /// Anthropic Messages (`POST /v1/messages`).
    AnthropicMessages,
}

impl InferenceApi {
    /// The name shown by `cordon profile show` (same as the JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            InferenceApi::OpenaiCompletions => "openai-completions",
            InferenceApi::OpenaiResponses => "openai-responses",
            InferenceApi::AnthropicMessages => "anthropic-messages",
        }
    }
}

impl Profile {
    /// The profile's policy, parsed and validated like an operator's file (a unit
    /// test keeps every shipped profile valid, so an error here means a broken build).
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        crate::parse_str(self.policy_yaml, &format!("<profile {}>", self.name))
            .map(|loaded| loaded.policy)
    }

    /// [`Profile::state_dirs`] with `$HOME` replaced by `home`.
    pub fn state_dirs_in(&self, home: &Path) -> Vec<PathBuf> {
        self.state_dirs
            .iter()
            .map(|p| expand_home(p, home))
            .collect()
    }

    /// [`Profile::main_env`] with `$HOME` replaced by `home` in the values.
    pub fn main_env_in(&self, home: &Path) -> Vec<(String, String)> {
        self.main_env
            .iter()
            .map(|v| {
                let value = expand_home(v.value, home).display().to_string();
                (v.name.to_owned(), value)
            })
            .collect()
    }

    /// [`Profile::read_only_files`] with `$HOME` replaced by `home`.
    pub fn read_only_files_in(&self, home: &Path) -> Vec<PathBuf> {
        self.read_only_files
            .iter()
            .map(|p| expand_home(p, home))
            .collect()
    }
}

/// `$HOME/x` → `home/x`; `$HOME` → `home`; any other path unchanged.
fn expand_home(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("$HOME") {
        Some("") => home.to_path_buf(),
        Some(rest) => match rest.strip_prefix('/') {
            Some(rest) => home.join(rest),
            None => PathBuf::from(path),
        },
        None => PathBuf::from(path),
    }
}

const OPENAI_ROUTE_ENV: &[EnvVar] = &[
    EnvVar {
        name: "OPENAI_BASE_URL",
        value: "http://inference.local/v1",
    },
    EnvVar {
        name: "OPENAI_API_KEY",
        value: INFERENCE_PLACEHOLDER_KEY,
    },
];

pub(super) const PROFILES: &[Profile] = &[
    Profile {
        name: "openclaw",
        description: "OpenClaw assistant: model via inference.local only, OpenClaw's own services read-only",
        command: &[
            "openclaw", "gateway", "run", "--bind", "loopback", "--port", "18789",
        ],
        // The gateway's own state directory (sessions, its lock files, device
        // pairings), so `openclaw agent --local` and `openclaw tui --local` in a
        // shell, which use $HOME/.openclaw, are not refused with "A Gateway is
        // running for this state directory". It reads the same read-only
        // configuration (so `openclaw tui` finds it on the configured port with the
        // shared token) and works in the same agent workspace.
        main_env: &[
            EnvVar {
                name: "OPENCLAW_STATE_DIR",
                value: "$HOME/.openclaw/gateway",
            },
            EnvVar {
                name: "OPENCLAW_CONFIG_PATH",
                value: "$HOME/.openclaw/openclaw.json",
            },
            EnvVar {
                name: "OPENCLAW_WORKSPACE_DIR",
                value: "$HOME/.openclaw/workspace",
            },
        ],
        state_dirs: &["$HOME/.openclaw", "$HOME/.openclaw/gateway"],
        read_only_files: &["$HOME/.openclaw/openclaw.json"],
        inference: InferenceRoute {
            api: InferenceApi::OpenaiCompletions,
            base_url: "http://inference.local/v1",
            // OpenClaw reads its provider from openclaw.json (models.providers.<name>
            // with baseUrl and a placeholder apiKey), not from the environment.
            env: &[
                // The configuration is mounted read-only: OpenClaw's own switch for
                // that turns its config writes (setup, doctor, plugin installs,
                // `config set`) into a clear refusal instead of a failed write.
                EnvVar {
                    name: "OPENCLAW_CONFIG_READONLY",
                    value: "1",
                },
                // No update check (telemetry.openclaw.ai, refused by the policy):
                // updating would rewrite the agent's own install anyway.
                EnvVar {
                    name: "OPENCLAW_NO_AUTO_UPDATE",
                    value: "1",
                },
                // No anonymous usage report either.
                EnvVar {
                    name: "DO_NOT_TRACK",
                    value: "1",
                },
                // OpenClaw's native file helper (@openclaw/fs-safe-linux-x64-gnu, an
                // optional npm dependency) opens its lock files with openat2 only; the
                // sandbox's seccomp filter answers openat2 with ENOSYS (it cannot check
                // the mode inside `struct open_how`), which the helper takes as a hard
                // failure ("failed to acquire gateway lock"). Its JavaScript fallback
                // uses openat and works.
                EnvVar {
                    name: "OPENCLAW_FS_SAFE_NATIVE_MODE",
                    value: "off",
                },
            ],
        },
        policy_yaml: include_str!("profiles/openclaw.yaml"),
    },
    Profile {
        name: "claude",
        description: "Claude Code: model via inference.local, api.anthropic.com and telemetry for the claude binary",
        command: &["claude"],
        main_env: &[],
        state_dirs: &["$HOME/.claude"],
        read_only_files: &[],
        inference: InferenceRoute {
            api: InferenceApi::AnthropicMessages,
            base_url: "http://inference.local",
            env: &[
                EnvVar {
                    name: "ANTHROPIC_BASE_URL",
                    value: "http://inference.local",
                },
                EnvVar {
                    name: "ANTHROPIC_API_KEY",
                    value: INFERENCE_PLACEHOLDER_KEY,
                },
                // Updating would rewrite the agent's own binary and needs hosts the
                // policy does not list.
                EnvVar {
                    name: "DISABLE_AUTOUPDATER",
                    value: "1",
                },
                // Crash reports to sentry.io are refused by the policy (see claude.yaml).
                EnvVar {
                    name: "DISABLE_ERROR_REPORTING",
                    value: "1",
                },
            ],
        },
        policy_yaml: include_str!("profiles/claude.yaml"),
    },
    Profile {
        name: "codex",
        description: "OpenAI Codex CLI: model via inference.local, OpenAI's API and sign-in for the codex binary",
        command: &["codex"],
        main_env: &[],
        state_dirs: &["$HOME/.codex"],
        read_only_files: &[],
        inference: InferenceRoute {
            api: InferenceApi::OpenaiResponses,
            base_url: "http://inference.local/v1",
            env: OPENAI_ROUTE_ENV,
        },
        policy_yaml: include_str!("profiles/codex.yaml"),
    },
    Profile {
        name: "opencode",
        description: "opencode: model via inference.local, model catalogue and provider packages read-only",
        command: &["opencode"],
        main_env: &[],
        state_dirs: &[
            "$HOME/.local/share/opencode",
            "$HOME/.cache/opencode",
            "$HOME/.config/opencode",
        ],
        read_only_files: &["$HOME/.config/opencode/opencode.json"],
        inference: InferenceRoute {
            api: InferenceApi::OpenaiCompletions,
            base_url: "http://inference.local/v1",
            // The provider (an OpenAI-compatible one with this base URL) is set in
            // opencode.json; the variables serve tools opencode runs.
            env: &[
                EnvVar {
                    name: "OPENAI_BASE_URL",
                    value: "http://inference.local/v1",
                },
                EnvVar {
                    name: "OPENAI_API_KEY",
                    value: INFERENCE_PLACEHOLDER_KEY,
                },
                EnvVar {
                    name: "OPENCODE_DISABLE_AUTOUPDATE",
                    value: "1",
                },
            ],
        },
        policy_yaml: include_str!("profiles/opencode.yaml"),
    },
    Profile {
        name: "generic",
        description: "Any agent: nothing reachable but the inference route; add presets for what it needs",
        // Something that keeps the sandbox up until it is stopped, doing nothing: a
        // shell would read its stdin (/dev/null) and exit at once, taking the sandbox
        // down before `cordon connect` or `exec` could reach it. The agent is
        // whatever you start in those shells, or the command given to `create`.
        command: &["sleep", "infinity"],
        main_env: &[],
        state_dirs: &[],
        read_only_files: &[],
        inference: InferenceRoute {
            api: InferenceApi::OpenaiCompletions,
            base_url: "http://inference.local/v1",
            env: &[
                EnvVar {
                    name: "OPENAI_BASE_URL",
                    value: "http://inference.local/v1",
                },
                EnvVar {
                    name: "OPENAI_API_KEY",
                    value: INFERENCE_PLACEHOLDER_KEY,
                },
                EnvVar {
                    name: "ANTHROPIC_BASE_URL",
                    value: "http://inference.local",
                },
                EnvVar {
                    name: "ANTHROPIC_API_KEY",
                    value: INFERENCE_PLACEHOLDER_KEY,
                },
            ],
        },
        policy_yaml: include_str!("profiles/generic.yaml"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_home_only_as_a_whole_prefix() {
        let home = Path::new("/sandbox");
        assert_eq!(
            expand_home("$HOME/.openclaw", home),
            Path::new("/sandbox/.openclaw")
        );
        assert_eq!(expand_home("$HOME", home), Path::new("/sandbox"));
        assert_eq!(expand_home("$HOMEX/a", home), Path::new("$HOMEX/a"));
        assert_eq!(expand_home("/etc/x", home), Path::new("/etc/x"));
    }
}
