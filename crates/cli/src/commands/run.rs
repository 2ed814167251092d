//! `cordon run` (owned by the sandbox work; placeholder until it lands).

use clap::Args;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

pub fn execute(_args: RunArgs) -> anyhow::Result<u8> {
    anyhow::bail!("not implemented yet")
}
