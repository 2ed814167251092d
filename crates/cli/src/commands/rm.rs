//! `cordon rm NAME [--force]`: delete a stopped sandbox and its state directory (its own
//! workdir included; a `--workdir` given to `create` is kept).

use clap::Args;
use cordon_supervisor::lifecycle;
use cordon_supervisor::state::StateRoot;

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct RmArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Stop it first (SIGKILL, no grace) if it is running.
    #[arg(short, long)]
    pub force: bool,
}

pub fn execute(args: RmArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    lifecycle::remove(&root, &args.name, args.force).map_err(fail)?;
    Ok(exit::SUCCESS)
}
