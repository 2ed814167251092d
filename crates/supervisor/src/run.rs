//! `cordon run`: policy + request -> sandbox spec -> running sandbox -> exit code.
//!
//! The sandbox is created first, while this process is still single-threaded (the kernel
//! refuses new user namespaces to multi-threaded processes, and `clone` copies one thread);
//! anything that starts threads (the egress proxy's runtime) comes after `Sandbox::spawn`.

use std::ffi::OsString;
use std::path::PathBuf;

use cordon_policy::Policy;
use cordon_sandbox::{IdMapping, Notice, Sandbox, valid_name};

use crate::env::{EnvArg, filter_env};
use crate::error::SupervisorError;
use crate::spec::{RunRequest, sandbox_spec};
use crate::workdir::{Workdir, random_hex};

/// What `cordon run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The policy in force (the default policy when no file was given).
    pub policy: Policy,
    /// `--workdir`: bind this host directory at `/sandbox` instead of a fresh one.
    pub workdir: Option<PathBuf>,
    /// `--name`; generated when absent.
    pub name: Option<String>,
    /// `--env` arguments, in order.
    pub env: Vec<EnvArg>,
    /// `-i`: forward stdin.
    pub interactive: bool,
    /// `-t`: allocate a pty.
    pub tty: bool,
    /// `-v`: print the layers applied.
    pub verbose: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

fn check_name(name: String) -> Result<String, SupervisorError> {
    if valid_name(&name) {
        Ok(name)
    } else {
        Err(SupervisorError::Name(name))
    }
}

fn report(notices: &[Notice], verbose: bool) {
    for notice in notices {
        match notice {
            Notice::Warning(text) => eprintln!("cordon: warning: {text}"),
            Notice::Layer(text) if verbose => eprintln!("cordon: {text}"),
            Notice::Layer(_) => {}
        }
    }
}

/// Runs the command in a fresh sandbox and returns its exit code (128+N for signal N).
pub fn run(options: RunOptions) -> Result<u8, SupervisorError> {
    let name = match options.name {
        Some(name) => check_name(name)?,
        None => format!("cordon-{}", random_hex(3)),
    };
    let (env, warnings) = filter_env(std::env::vars_os(), &options.env);
    for warning in warnings {
        eprintln!("cordon: warning: {warning}");
    }
    let request = RunRequest {
        name: name.clone(),
        command: options.command,
        env,
        workdir: None,
        tty: options.tty,
        stdin: options.interactive,
        verbose: options.verbose,
    };
    let mut spec = sandbox_spec(&options.policy, request);
    let workdir = if options.policy.filesystem_policy.include_workdir {
        let workdir = match &options.workdir {
            Some(dir) => Workdir::given(dir)?,
            None => {
                // As root the agent is an unprivileged mapped id: give it its workdir.
                let ids = IdMapping::for_invoker(spec.identity)?;
                let owner = ids.rootful.then_some((ids.host_uid, ids.host_gid));
                Workdir::fresh(&name, owner)?
            }
        };
        spec.workdir = Some(workdir.path().to_path_buf());
        Some(workdir)
    } else {
        if options.workdir.is_some() {
            eprintln!("cordon: warning: --workdir ignored: the policy sets include_workdir: false");
        }
        None
    };
    let sandbox = Sandbox::spawn(&spec)?;
    report(sandbox.notices(), options.verbose);
    let status = sandbox.wait()?;
    drop(workdir); // after the sandbox is gone: nothing is left writing into it
    Ok(status.code())
}
