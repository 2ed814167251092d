//! `cordon preset list|show|apply`: the built-in network presets (cordon-policy's
//! catalog).
//!
//! `show` prints the preset file, which is itself a valid policy (`cordon policy
//! validate` and `explain` accept it). `apply NAME SANDBOX` merges the preset into the
//! named sandbox's policy and installs the result the way `cordon policy set --wait`
//! does: hot-reloaded when the sandbox runs, stored for its next start otherwise.
//! Exit 1 for an unknown preset (the message lists the known ones), an invalid policy
//! or a clashing entry; applying a preset that is already in the policy changes
//! nothing and exits 0.

use anyhow::Context as _;
use clap::Subcommand;
use cordon_policy::catalog::{self, Preset};
use cordon_supervisor::lifecycle;
use cordon_supervisor::state::StateRoot;
use serde_json::{Value, json};

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Subcommand)]
pub enum PresetCommand {
    /// List the built-in network presets.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a preset's `network_policies` fragment.
    Show {
        /// Preset name (see `cordon preset list`).
        #[arg(value_name = "NAME")]
        name: String,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Add a preset to a named sandbox's policy (hot-reloaded when it runs).
    Apply {
        /// Preset name (see `cordon preset list`).
        #[arg(value_name = "NAME")]
        name: String,
        /// The sandbox.
        #[arg(value_name = "SANDBOX")]
        sandbox: String,
    },
}

pub fn execute(cmd: PresetCommand) -> anyhow::Result<u8> {
    match cmd {
        PresetCommand::List { json } => list(json),
        PresetCommand::Show { name, json } => show(&name, json),
        PresetCommand::Apply { name, sandbox } => apply(&name, &sandbox),
    }
}

/// The preset called `name`, or exit 1 naming the known ones.
pub fn lookup(name: &str) -> anyhow::Result<&'static Preset> {
    catalog::preset(name).ok_or_else(|| {
        exit::unknown_name("preset", name, catalog::presets().iter().map(|p| p.name)).into()
    })
}

fn list(json: bool) -> anyhow::Result<u8> {
    let presets = catalog::presets();
    if json {
        let items = presets
            .iter()
            .map(|p| describe(p, false))
            .collect::<anyhow::Result<Vec<_>>>()?;
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(exit::SUCCESS);
    }
    crate::table::print_names(presets.iter().map(|p| (p.name, p.description)));
    Ok(exit::SUCCESS)
}

fn show(name: &str, json: bool) -> anyhow::Result<u8> {
    let preset = lookup(name)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&describe(preset, true)?)?
        );
    } else {
        print!(
            "# cordon preset: {}\n# {}\n# adds entry: network_policies.{}\n#\n{}",
            preset.name, preset.description, preset.name, preset.yaml
        );
    }
    Ok(exit::SUCCESS)
}

/// Name, description, the hosts it opens and (for `show`) the entries themselves.
fn describe(preset: &Preset, with_entries: bool) -> anyhow::Result<Value> {
    let entries = preset
        .network_policies()
        .with_context(|| format!("built-in preset {} is invalid", preset.name))?;
    let mut hosts: Vec<&str> = entries
        .values()
        .flat_map(|entry| entry.endpoints.iter().map(|e| e.host.as_str()))
        .collect();
    hosts.dedup();
    let mut value = serde_json::to_value(preset)?;
    value["hosts"] = json!(hosts);
    if with_entries {
        value["network_policies"] = serde_json::to_value(&entries)?;
    }
    Ok(value)
}

fn apply(name: &str, sandbox: &str) -> anyhow::Result<u8> {
    let preset = lookup(name)?;
    let root = StateRoot::for_current_user().map_err(fail)?;
    let current = lifecycle::policy_get(&root, sandbox).map_err(fail)?;
    let origin = format!("<policy of sandbox {sandbox}>");
    let mut policy = cordon_policy::parse_str(&current, &origin)
        .map_err(|err| exit::Exit::new(exit::INVALID, format!("invalid policy\n{err}")))?
        .policy;
    let outcome = catalog::apply_preset(&mut policy, preset).map_err(|err| {
        exit::Exit::new(
            exit::INVALID,
            format!("cannot apply preset {name} to {sandbox}:\n{err}"),
        )
    })?;
    if outcome.added.is_empty() {
        println!("{sandbox}: preset {name} is already in the policy; nothing changed");
        return Ok(exit::SUCCESS);
    }
    let yaml = format!(
        "# policy of sandbox {sandbox}, with preset {name} applied by `cordon preset apply`\n{}",
        policy.to_yaml().map_err(|err| anyhow::anyhow!("{err}"))?
    );
    let source = format!("cordon preset apply {name}");
    let applied = lifecycle::policy_set_text(&root, sandbox, yaml, source, true).map_err(fail)?;
    let entries = outcome.added.join(", ");
    match applied {
        Some(generation) => println!(
            "{sandbox}: preset {name} applied (added network_policies.{entries}); policy generation {generation} in force"
        ),
        None => println!(
            "{sandbox}: preset {name} added (network_policies.{entries}); applied at the next start"
        ),
    }
    Ok(exit::SUCCESS)
}
