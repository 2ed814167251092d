//! The network presets: one `network_policies` fragment per service (YAML beside this
//! file). Each file is a complete policy (`version: 1` + `network_policies`) so it
//! validates on its own; only its `network_policies` are merged.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::PolicyError;
use crate::model::{NetworkPolicy, Policy};

/// A built-in network preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Preset {
    /// Name used on the command line (`--preset pypi`); also the key of the entry the
    /// preset adds, so logs and approvals name the preset that allowed a connection.
    pub name: &'static str,
    /// One line for `cordon preset list`.
    pub description: &'static str,
    /// The fragment as shipped (comments included): a policy with only
    /// `network_policies`.
    #[serde(skip)]
    pub yaml: &'static str,
}

impl Preset {
    /// The preset file parsed and validated like an operator's file.
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        crate::parse_str(self.yaml, &self.origin()).map(|loaded| loaded.policy)
    }

    /// The entries the preset adds, keyed as they are merged.
    pub fn network_policies(&self) -> Result<BTreeMap<String, NetworkPolicy>, PolicyError> {
        self.policy().map(|policy| policy.network_policies)
    }

    /// How problems and merge conflicts name this preset.
    pub(super) fn origin(&self) -> String {
        format!("<preset {}>", self.name)
    }
}

pub(super) const PRESETS: &[Preset] = &[
    Preset {
        name: "pypi",
        description: "PyPI packages for pip, uv and python, read-only",
        yaml: include_str!("presets/pypi.yaml"),
    },
    Preset {
        name: "npm",
        description: "npm and Yarn registries for node, npm and bun, read-only",
        yaml: include_str!("presets/npm.yaml"),
    },
    Preset {
        name: "github",
        description: "GitHub for git, gh and curl: clone, fetch, REST reads, downloads; no push",
        yaml: include_str!("presets/github.yaml"),
    },
    Preset {
        name: "huggingface",
        description: "Hugging Face Hub model and dataset downloads, read-only",
        yaml: include_str!("presets/huggingface.yaml"),
    },
    Preset {
        name: "slack",
        description: "Slack Web API, incoming webhooks and Socket Mode for bots",
        yaml: include_str!("presets/slack.yaml"),
    },
    Preset {
        name: "discord",
        description: "Discord bot API, Gateway and CDN; no deletes",
        yaml: include_str!("presets/discord.yaml"),
    },
    Preset {
        name: "telegram",
        description: "Telegram Bot API (/bot<token>/... only)",
        yaml: include_str!("presets/telegram.yaml"),
    },
    Preset {
        name: "jira",
        description: "Jira Cloud: read, search, create, edit, comment, transition; no deletes",
        yaml: include_str!("presets/jira.yaml"),
    },
    Preset {
        name: "docker-hub",
        description: "Docker Hub image pulls for daemonless clients, read-only",
        yaml: include_str!("presets/docker-hub.yaml"),
    },
    Preset {
        name: "outlook",
        description: "Outlook mail, calendar and contacts of the signed-in user via Microsoft Graph; no deletes",
        yaml: include_str!("presets/outlook.yaml"),
    },
];
