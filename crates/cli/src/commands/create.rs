//! `cordon create NAME [--policy FILE] [--workdir DIR] [--env K=V]... [--restart POLICY]
//! [--add-host NAME:IP]... [--secret ENV_NAME=PROVIDER]... [--log-max-size BYTES]
//! -- CMD [ARGS...]`: a named sandbox held by a detached supervisor; returns once its
//! main process runs.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use cordon_supervisor::EnvArg;
use cordon_supervisor::lifecycle::{self, CreateOptions, DEFAULT_LOG_MAX_BYTES, Started};
use cordon_supervisor::state::{RestartPolicy, StateRoot};

use crate::commands::run::fail;
use crate::exit;

/// When the main process is started again.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Restart {
    /// Never: the sandbox stops with its main process.
    No,
    /// When it exits non-zero or by a signal.
    OnFailure,
    /// Whenever it exits, until `cordon stop`.
    Always,
}

impl From<Restart> for RestartPolicy {
    fn from(restart: Restart) -> RestartPolicy {
        match restart {
            Restart::No => RestartPolicy::No,
            Restart::OnFailure => RestartPolicy::OnFailure,
            Restart::Always => RestartPolicy::Always,
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Sandbox name: [a-z0-9][a-z0-9_.-]{0,62}, unique per user.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Policy file (OpenShell v1 YAML), copied into the sandbox's state; the built-in
    /// default policy when absent. Change it later with `cordon policy set`.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Host directory to bind at /sandbox; default: the sandbox's own, kept until `rm`.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Set NAME=VALUE, or pass the host's NAME, into the sandbox (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Restart policy of the main process.
    #[arg(long, value_enum, default_value = "no")]
    pub restart: Restart,
    /// Resolve NAME to IP in the proxy before DNS (repeatable).
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Set ENV_NAME inside the sandbox to an opaque placeholder for the stored
    /// credential PROVIDER (`cordon provider create`); the proxy swaps in the real value
    /// only on inspected requests to endpoints whose `credential_binding` names it
    /// (repeatable).
    #[arg(long = "secret", value_name = "ENV_NAME=PROVIDER")]
    pub secret: Vec<String>,
    /// Rotate the main process's log and the audit log past this many bytes
    /// (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub log_max_size: Option<u64>,
    /// Start from a built-in agent profile (`cordon profile list`): its policy (unless
    /// --policy), launch command (unless CMD), state directories, variables and the
    /// configuration cordon writes for it read-only. Exit 127 when the agent is not
    /// installed (the message names the command that installs it).
    #[arg(long, value_name = "PROFILE")]
    pub agent: Option<String>,
    /// The agent's program (default: the profile's command on PATH).
    #[arg(long, value_name = "PATH", requires = "agent")]
    pub agent_bin: Option<PathBuf>,
    /// Merge a built-in network preset into the policy (repeatable; `cordon preset list`).
    #[arg(long = "preset", value_name = "PRESET")]
    pub presets: Vec<String>,
    /// Route inference.local to this provider (`cordon provider list`).
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// The model (forced on the route; named in the agent's configuration).
    #[arg(long, value_name = "MODEL", requires = "provider")]
    pub model: Option<String>,
    /// The main process and its arguments (default with --agent: the profile's command).
    #[arg(last = true, required_unless_present = "agent", value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `10M`, `512K`, `1G` or plain bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let factor: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("unknown size unit {unit:?} (use K, M or G)")),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size"))?;
    value
        .checked_mul(factor)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{text:?} is out of range"))
}

pub fn execute(args: CreateArgs) -> anyhow::Result<u8> {
    let env = args
        .env
        .iter()
        .map(|arg| EnvArg::parse(arg))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| exit::Exit::new(exit::CORDON_FAILED, e.to_string()))?;
    let root = StateRoot::for_current_user().map_err(fail)?;
    let options = CreateOptions {
        name: args.name.clone(),
        policy_file: args.policy,
        workdir: args.workdir,
        env,
        restart: args.restart.into(),
        log_max_bytes: args.log_max_size.unwrap_or(DEFAULT_LOG_MAX_BYTES),
        add_hosts: args.add_host,
        secrets: args.secret,
        command: args.command,
        agent: crate::commands::onboard::agent_options(
            args.agent,
            args.agent_bin,
            args.presets,
            args.provider,
            args.model,
        )?,
    };
    let (started, warnings) = lifecycle::create(&root, options).map_err(fail)?;
    for warning in warnings {
        eprintln!("cordon: warning: {warning}");
    }
    if started == Started::Running {
        println!("{}", args.name);
    }
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("x").is_err());
    }
}
