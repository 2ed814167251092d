//! `cordon __supervise NAME [--restarted]` (hidden): the detached supervisor of a named
//! sandbox, started by `create`/`start` and by itself for a restart. Not for humans.

use clap::Args;

use crate::commands::run::fail;

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The sandbox.
    pub name: String,
    /// Started again by the restart policy (backs off, reports to its log only).
    #[arg(long)]
    pub restarted: bool,
    /// The inherited descriptor of the held supervisor lock (restarts).
    #[arg(long, value_name = "FD")]
    pub lock_fd: Option<i32>,
}

pub fn execute(args: SuperviseArgs) -> anyhow::Result<u8> {
    cordon_supervisor::lifecycle::supervise(&args.name, args.restarted, args.lock_fd).map_err(fail)
}

#[cfg(test)]
mod tests {
    use cordon_supervisor::lifecycle::{LOCK_FD_FLAG, RESTARTED_FLAG, SUPERVISE_COMMAND};

    #[test]
    fn the_hidden_subcommand_matches_what_the_supervisor_re_executes() {
        use clap::CommandFactory;
        let cli = crate::Cli::command();
        let sub = cli
            .find_subcommand(SUPERVISE_COMMAND)
            .expect("the hidden subcommand exists");
        let flags: Vec<String> = sub
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        assert!(flags.contains(&RESTARTED_FLAG.to_owned()));
        assert!(flags.contains(&LOCK_FD_FLAG.to_owned()));
    }
}
