//! `cordon policy get NAME` and `cordon policy set NAME FILE [--wait]`: the policy of a
//! named sandbox. `set` hot-reloads the network sections of a running sandbox through its
//! supervisor (static sections need a restart and are refused); a stopped sandbox gets
//! the file for its next start. Exit 1 for an invalid policy or a refused change.

use std::path::PathBuf;

use clap::Args;
use cordon_supervisor::lifecycle;
use cordon_supervisor::state::StateRoot;

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The new policy.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Return once the new generation is in force (prints its number).
    #[arg(long)]
    pub wait: bool,
}

pub fn get(args: GetArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    print!(
        "{}",
        lifecycle::policy_get(&root, &args.name).map_err(fail)?
    );
    Ok(exit::SUCCESS)
}

pub fn set(args: SetArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    match lifecycle::policy_set(&root, &args.name, &args.file, args.wait).map_err(fail)? {
        Some(generation) => println!("{}: policy generation {generation} in force", args.name),
        None if args.wait => println!("{}: stored; applied at the next start", args.name),
        None => {}
    }
    Ok(exit::SUCCESS)
}
