//! `cordon`: the one binary. Parses the command line, dispatches to one module per
//! subcommand, and maps every outcome to a documented exit code (`exit.rs`).
//! Nothing here decides policy or touches the kernel: that lives in the layer crates.

mod commands;
mod exit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run untrusted AI agents under a kernel sandbox and a policy-enforcing egress proxy.
#[derive(Debug, Parser)]
#[command(name = "cordon", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, show and explain policies.
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Run a command inside a fresh sandbox and exit with its exit code.
    Run(commands::run::RunArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are not failures; every real usage error is cordon's
            // own failure (125), as docker and podman report it.
            let code = if err.use_stderr() {
                exit::CORDON_FAILED
            } else {
                exit::SUCCESS
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    exit::report(match cli.command {
        Command::Policy(cmd) => commands::policy::execute(cmd),
        Command::Run(args) => commands::run::execute(args),
    })
}
