//! `cordon logs NAME [--follow] [--tail N] [--audit] [--json]`: the main process's
//! stdout/stderr (stderr lines to stderr), or with `--audit` the audit log; `--follow`
//! keeps going across log rotations until the sandbox stops.

use clap::Args;
use cordon_supervisor::lifecycle::{self, LogOptions};
use cordon_supervisor::state::StateRoot;

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Keep printing new lines until the sandbox stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Print only the last N lines first.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// The audit log (one JSON object per decision) instead of the main process's output.
    #[arg(long)]
    pub audit: bool,
    /// One JSON object per line: {"time","stream","line"}.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: LogsArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    let dir = root.sandbox(&args.name).map_err(fail)?;
    let options = LogOptions {
        follow: args.follow,
        tail: args.tail,
        audit: args.audit,
        json: args.json,
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    match lifecycle::print_logs(&dir, options, &mut out, &mut err) {
        // `cordon logs NAME | head`: the reader stopped reading; not a failure.
        Err(e) if broken_pipe(&e) => Ok(exit::SUCCESS),
        result => {
            result.map_err(fail)?;
            Ok(exit::SUCCESS)
        }
    }
}

/// Whether `error` comes from writing to a standard output whose reader has gone.
fn broken_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cause = e.source();
    }
    false
}
