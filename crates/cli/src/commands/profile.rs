//! `cordon profile list|show`: the built-in agent profiles (cordon-policy's catalog).
//!
//! `show` prints the profile's metadata as YAML comments above its policy, so its
//! output is itself a policy file (`cordon profile show openclaw > policy.yaml`).
//! Exit 1 for an unknown profile name (the message lists the known ones).

use anyhow::Context as _;
use clap::Subcommand;
use cordon_policy::catalog::{self, Profile};
use serde_json::{Value, json};

use crate::exit;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List the built-in agent profiles.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a profile: launch metadata and its default policy.
    Show {
        /// Profile name (see `cordon profile list`).
        #[arg(value_name = "NAME")]
        name: String,
        /// Print JSON (metadata and the normalised policy) instead of YAML.
        #[arg(long)]
        json: bool,
    },
}

pub fn execute(cmd: ProfileCommand) -> anyhow::Result<u8> {
    match cmd {
        ProfileCommand::List { json } => list(json),
        ProfileCommand::Show { name, json } => show(&name, json),
    }
}

/// The profile called `name`, or exit 1 naming the known ones.
pub fn lookup(name: &str) -> anyhow::Result<&'static Profile> {
    catalog::profile(name).ok_or_else(|| {
        exit::unknown_name("profile", name, catalog::profiles().iter().map(|p| p.name)).into()
    })
}

fn list(json: bool) -> anyhow::Result<u8> {
    let profiles = catalog::profiles();
    if json {
        let items = profiles
            .iter()
            .map(metadata)
            .collect::<anyhow::Result<Vec<_>>>()?;
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(exit::SUCCESS);
    }
    crate::table::print_names(profiles.iter().map(|p| (p.name, p.description)));
    Ok(exit::SUCCESS)
}

fn show(name: &str, json: bool) -> anyhow::Result<u8> {
    let profile = lookup(name)?;
    if json {
        let mut value = metadata(profile)?;
        let policy = profile
            .policy()
            .with_context(|| format!("built-in profile {name} is invalid"))?;
        value["policy"] = serde_json::to_value(&policy)?;
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}{}", header(profile), profile.policy_yaml);
    }
    Ok(exit::SUCCESS)
}

/// The profile's metadata as JSON, plus the keys of its network entries.
fn metadata(profile: &Profile) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(profile)?;
    let policy = profile
        .policy()
        .with_context(|| format!("built-in profile {} is invalid", profile.name))?;
    value["network_entries"] = json!(policy.network_policies.keys().collect::<Vec<_>>());
    Ok(value)
}

/// The metadata as YAML comments, so the whole output stays a loadable policy.
fn header(profile: &Profile) -> String {
    let mut out = format!(
        "# cordon profile: {}\n# {}\n# command:         {}\n",
        profile.name,
        profile.description,
        profile.command.join(" ")
    );
    if !profile.state_dirs.is_empty() {
        out.push_str(&format!(
            "# state dirs:      {} (writable)\n",
            profile.state_dirs.join(", ")
        ));
    }
    if !profile.read_only_files.is_empty() {
        out.push_str(&format!(
            "# read-only files: {} (written by cordon, mounted read-only)\n",
            profile.read_only_files.join(", ")
        ));
    }
    out.push_str(&format!(
        "# inference:       {} at {}\n",
        profile.inference.api.as_str(),
        profile.inference.base_url
    ));
    for var in profile.inference.env {
        out.push_str(&format!("# environment:     {}={}\n", var.name, var.value));
    }
    out.push_str("#\n");
    out
}
