//! `cordon`: the one binary. Parses the command line, dispatches to one module per
//! subcommand, and maps every outcome to a documented exit code (`exit.rs`).
//! Nothing here decides policy or touches the kernel: that lives in the layer crates.

mod color;
mod commands;
mod exit;
mod progress;
mod table;

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
    /// Create and start a named sandbox held by a detached supervisor.
    Create(commands::create::CreateArgs),
    /// List your sandboxes.
    List(commands::list::ListArgs),
    /// Show everything about one sandbox.
    Status(commands::status::StatusArgs),
    /// Run a command in a running sandbox.
    Exec(commands::exec::ExecArgs),
    /// Open an interactive shell in a running sandbox.
    Connect(commands::exec::ConnectArgs),
    /// Show a sandbox's output, or its audit log.
    Logs(commands::logs::LogsArgs),
    /// Stop a sandbox.
    Stop(commands::stop::StopArgs),
    /// Start a stopped sandbox again.
    Start(commands::start::StartArgs),
    /// Remove a sandbox and its state.
    Rm(commands::rm::RmArgs),
    /// List and show the built-in agent profiles.
    #[command(subcommand)]
    Profile(commands::profile::ProfileCommand),
    /// List, show and apply the built-in network presets.
    #[command(subcommand)]
    Preset(commands::preset::PresetCommand),
    /// Store, list and remove inference providers and credentials.
    #[command(subcommand)]
    Provider(commands::provider::ProviderCommand),
    /// Set or show where inference.local routes (default or per sandbox).
    #[command(subcommand)]
    Inference(commands::inference::InferenceCommand),
    /// Guided setup: agent, provider and model, presets, name; creates the sandbox.
    Onboard(commands::onboard::OnboardArgs),
    /// List the destinations a running sandbox was refused, waiting for approval.
    Approvals(commands::approvals::ApprovalsArgs),
    /// Allow a pending request in the running policy (--save keeps it, --for expires it).
    Approve(commands::approve::ApproveArgs),
    /// Dismiss a pending request.
    Deny(commands::deny::DenyArgs),
    /// Full-screen terminal UI: sandboxes, live audit, approvals, policy.
    Term(commands::term::TermArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(commands::completions::CompletionsArgs),
    /// Print the manual page (roff), or write every page with --dir.
    Man(commands::man::ManArgs),
    #[command(name = "__supervise", hide = true)]
    Supervise(commands::supervise::SuperviseArgs),
}

fn main() -> ExitCode {
    exit::quiet_broken_pipe();
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
        Command::Create(args) => commands::create::execute(args),
        Command::List(args) => commands::list::execute(args),
        Command::Status(args) => commands::status::execute(args),
        Command::Exec(args) => commands::exec::execute(args),
        Command::Connect(args) => commands::exec::connect(args),
        Command::Logs(args) => commands::logs::execute(args),
        Command::Stop(args) => commands::stop::execute(args),
        Command::Start(args) => commands::start::execute(args),
        Command::Rm(args) => commands::rm::execute(args),
        Command::Profile(cmd) => commands::profile::execute(cmd),
        Command::Preset(cmd) => commands::preset::execute(cmd),
        Command::Provider(cmd) => commands::provider::execute(cmd),
        Command::Inference(cmd) => commands::inference::execute(cmd),
        Command::Onboard(args) => commands::onboard::execute(args),
        Command::Approvals(args) => commands::approvals::execute(args),
        Command::Approve(args) => commands::approve::execute(args),
        Command::Deny(args) => commands::deny::execute(args),
        Command::Term(args) => commands::term::execute(args),
        Command::Completions(args) => commands::completions::execute(args),
        Command::Man(args) => commands::man::execute(args),
        Command::Supervise(args) => commands::supervise::execute(args),
    })
}
