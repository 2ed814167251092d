//! `cordon policy ...` (owned by the policy work; placeholder until it lands).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files.
    Validate {
        /// Policy files to check.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

pub fn execute(cmd: PolicyCommand) -> anyhow::Result<u8> {
    match cmd {
        PolicyCommand::Validate { .. } => anyhow::bail!("not implemented yet"),
    }
}
