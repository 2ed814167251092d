//! `cordon stop NAME [--timeout S]`: SIGTERM to the main process, SIGKILL to every
//! process of the sandbox after the timeout; returns when nothing of it is left.

use std::time::Duration;

use clap::Args;
use cordon_supervisor::lifecycle;
use cordon_supervisor::state::StateRoot;

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Seconds the main process gets to exit after SIGTERM.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,
}

pub fn execute(args: StopArgs) -> anyhow::Result<u8> {
    let timeout = Duration::try_from_secs_f64(args.timeout).map_err(|_| {
        exit::Exit::new(
            exit::CORDON_FAILED,
            format!("--timeout {}: not a duration", args.timeout),
        )
    })?;
    let root = StateRoot::for_current_user().map_err(fail)?;
    if !lifecycle::stop(&root, &args.name, timeout).map_err(fail)? {
        eprintln!("cordon: {} was not running", args.name);
    }
    Ok(exit::SUCCESS)
}
