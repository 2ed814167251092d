//! `cordon exec NAME [-i] [-t] -- CMD [ARGS...]` and `cordon connect NAME`: a new
//! process in a running sandbox — same namespaces, root, Landlock rules, seccomp filter,
//! limits and uid as the main process — started by the sandbox's init, never by a host
//! process entering it. Exits with the process's exit code.

use clap::Args;
use cordon_supervisor::lifecycle::{self, ExecOptions};
use cordon_supervisor::state::StateRoot;
use cordon_supervisor::{FailureKind, SupervisorError};

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Keep stdin attached (without it the command reads /dev/null).
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-terminal inside the sandbox.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
}

pub fn execute(args: ExecArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    let options = ExecOptions {
        command: args.command,
        interactive: args.interactive,
        tty: args.tty,
    };
    lifecycle::exec(&root, &args.name, options).map_err(fail)
}

/// The shells tried, in order: the caller's `$SHELL` (when it exists inside), then sh.
fn shells() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(shell) = std::env::var("SHELL")
        && shell.starts_with('/')
    {
        out.push(shell);
    }
    out.push("/bin/sh".into());
    out
}

/// An interactive shell in the sandbox: `exec -it NAME -- $SHELL`.
pub fn connect(args: ConnectArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    let mut last = None;
    for shell in shells() {
        let options = ExecOptions {
            command: vec![shell],
            interactive: true,
            tty: true,
        };
        match lifecycle::exec(&root, &args.name, options) {
            Err(
                err @ SupervisorError::StartFailed {
                    kind: FailureKind::CommandNotFound,
                    ..
                },
            ) => last = Some(err),
            other => return other.map_err(fail),
        }
    }
    match last {
        Some(err) => Err(fail(err)),
        None => Ok(exit::CORDON_FAILED),
    }
}
