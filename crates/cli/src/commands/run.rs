//! `cordon run`: run a command inside a fresh sandbox and exit with its exit code.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;
use cordon_supervisor::{EnvArg, FailureKind, RunOptions, SupervisorError};

use crate::exit;

/// `cordon run [--policy FILE] [--workdir DIR] [--name NAME] [--env K=V]... [--audit FILE]
/// [--add-host NAME:IP]... [--secret ENV_NAME=PROVIDER]... [-i] [-t] [-v] -- CMD [ARGS...]`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Policy file (OpenShell v1 YAML); the built-in default policy when absent. Edits
    /// to the file's network sections apply to the running sandbox.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Write every egress decision and policy reload to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Resolve NAME to IP in the proxy before DNS (repeatable), e.g. api.test:127.0.0.1.
    /// The policy still decides: a loopback or private address is reached only when the
    /// policy names the host exactly.
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Host directory to bind at /sandbox; default: a fresh directory removed at exit.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Sandbox name (also its hostname); default: cordon-<random>.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Set NAME=VALUE, or pass the host's NAME, into the sandbox (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// With -t, forward your keyboard to the command's terminal (-it). Without -t,
    /// stdin always passes through (pipes work both ways); -i is then a no-op.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-terminal for the command.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Print which layers were applied and how, reloads, and a summary of egress
    /// decisions at exit.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Set ENV_NAME inside the sandbox to an opaque placeholder for the stored
    /// credential PROVIDER (`cordon provider create`); the proxy swaps in the real value
    /// only on inspected requests to endpoints whose `credential_binding` names it
    /// (repeatable).
    #[arg(long = "secret", value_name = "ENV_NAME=PROVIDER")]
    pub secret: Vec<String>,
    /// Extra CA certificate(s) (PEM) trusted for upstream TLS, next to the system roots:
    /// for private CAs and test servers. Certificate errors are never ignored.
    #[arg(long = "upstream-ca", value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

pub fn execute(args: RunArgs) -> anyhow::Result<u8> {
    let policy = match &args.policy {
        None => cordon_policy::default_policy(),
        Some(path) => match cordon_policy::load_file(path) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    eprintln!("cordon: warning: {warning}");
                }
                loaded.policy
            }
            // The policy is input to `run`, and a run that cannot start is cordon's failure.
            Err(err) => {
                let message = match err.problems.as_slice() {
                    [one] => format!("policy rejected: {one}"),
                    _ => format!("policy {} rejected:\n{err}", path.display()),
                };
                return Err(exit::Exit::new(exit::CORDON_FAILED, message).into());
            }
        },
    };
    let env = args
        .env
        .iter()
        .map(|arg| EnvArg::parse(arg))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| exit::Exit::new(exit::CORDON_FAILED, e.to_string()))?;
    let options = RunOptions {
        policy,
        workdir: args.workdir,
        name: args.name,
        env,
        interactive: args.interactive,
        tty: args.tty,
        verbose: args.verbose,
        command: args.command,
        policy_file: args.policy,
        audit: args.audit,
        add_hosts: args.add_host,
        upstream_ca: args.upstream_ca,
        secrets: args.secret,
    };
    match cordon_supervisor::run(options) {
        Ok(code) => Ok(code),
        Err(err) => Err(exit::Exit::new(code_for(&err), err.to_string()).into()),
    }
}

/// docker/podman: 127 not found, 126 not executable, 125 everything that is cordon's;
/// 1 for input understood and wrong (an unknown sandbox, an invalid policy to apply).
pub(crate) fn code_for(err: &SupervisorError) -> u8 {
    match err.kind() {
        FailureKind::CommandNotFound => exit::NOT_FOUND,
        FailureKind::CommandNotExecutable => exit::NOT_EXECUTABLE,
        FailureKind::Cordon => exit::CORDON_FAILED,
        FailureKind::Invalid => exit::INVALID,
    }
}

/// A supervisor error as the CLI reports it: one message, the documented exit code.
pub(crate) fn fail(err: SupervisorError) -> anyhow::Error {
    exit::Exit::new(code_for(&err), err.to_string()).into()
}
