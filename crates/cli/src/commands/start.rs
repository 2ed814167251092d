//! `cordon start NAME`: start a stopped (or crashed) sandbox again, with the same name,
//! workdir and policy; a running one is left as it is.

use clap::Args;
use cordon_supervisor::lifecycle::{self, Started};
use cordon_supervisor::state::StateRoot;

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
}

pub fn execute(args: StartArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    match lifecycle::start(&root, &args.name).map_err(fail)? {
        Started::Running => println!("{}", args.name),
        Started::AlreadyRunning => eprintln!("cordon: {} is already running", args.name),
    }
    Ok(exit::SUCCESS)
}
