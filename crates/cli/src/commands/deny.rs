//! `cordon deny NAME ID`: dismisses a pending request. The destination stays denied
//! (as it already was); identical attempts are refused at once and do not come back as
//! requests until the sandbox restarts. Exit 1 for an unknown sandbox, one that is not
//! running, or an unknown ID.

use clap::Args;
use cordon_supervisor::lifecycle;
use cordon_supervisor::state::StateRoot;

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct DenyArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The request's ID (see `cordon approvals NAME`).
    #[arg(value_name = "ID")]
    pub id: String,
}

pub fn execute(args: DenyArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    lifecycle::deny(&root, &args.name, &args.id).map_err(fail)?;
    println!("{}: dismissed {}", args.name, args.id);
    Ok(exit::SUCCESS)
}
