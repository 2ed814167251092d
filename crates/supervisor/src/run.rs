//! `cordon run`: policy + request -> sandbox spec -> running sandbox + egress proxy ->
//! exit code.
//!
//! The sandbox is created first, while this process is still single-threaded (the kernel
//! refuses new user namespaces to multi-threaded processes, and `clone` copies one thread);
//! anything that starts threads (the proxy's runtime, the audit writer, the policy
//! watcher) comes after `Sandbox::spawn`. The threads inherit the signal mask the spawn
//! set, so the signals forwarded to the agent keep arriving at the main thread only.

use std::ffi::OsString;
use std::path::PathBuf;

use cordon_policy::Policy;
use cordon_sandbox::{IdMapping, Notice, Sandbox, valid_name};

use crate::env::{EnvArg, filter_env};
use crate::error::SupervisorError;
use crate::proxy::{AuditTarget, EgressPlan, PROXY_LISTEN, RunningEgress, override_env, proxy_env};
use crate::reload::FileReloader;
use crate::spec::{RunRequest, sandbox_spec};
use crate::transparent::TransparentPlan;
use crate::trust::TrustPlan;
use crate::workdir::{Workdir, random_hex};

/// Worker threads of the proxy runtime: the proxy is I/O-bound and splices in the
/// kernel, so two workers keep one sandbox's traffic off a single core without
/// competing with the agent for the machine.
pub(crate) const PROXY_WORKERS: usize = 2;

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
    /// `-i`: with `-t`, forward the caller's keyboard to the pty (stdin always passes
    /// through without `-t`).
    pub interactive: bool,
    /// `-t`: allocate a pty.
    pub tty: bool,
    /// `-v`: print the layers applied.
    pub verbose: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// `--policy FILE`: watched, and reloaded into the running sandbox when it changes.
    pub policy_file: Option<PathBuf>,
    /// `--audit FILE`: where decisions are written as JSON lines.
    pub audit: Option<PathBuf>,
    /// `--add-host NAME:IP` entries, resolved before DNS.
    pub add_hosts: Vec<String>,
    /// `--upstream-ca FILE`: an extra CA trusted for upstream TLS (tests, private CAs).
    pub upstream_ca: Option<PathBuf>,
    /// `--secret ENV=PROVIDER`: `ENV` gets a placeholder the proxy swaps for the stored
    /// credential on requests to endpoints binding it.
    pub secrets: Vec<String>,
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

/// A multi-threaded runtime for the proxy (and, for named sandboxes, the control API).
pub(crate) fn proxy_runtime() -> Result<tokio::runtime::Runtime, SupervisorError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(PROXY_WORKERS)
        .thread_name("cordon-proxy")
        .enable_all()
        .build()
        .map_err(SupervisorError::Runtime)
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
    let placeholders = crate::credentials::issue(&options.secrets)?;
    let request = RunRequest {
        name: name.clone(),
        command: options.command,
        env,
        workdir: None,
        tty: options.tty,
        // Without a pty, stdio passes through unchanged: pipes work both ways
        // (`echo x | cordon run -- cat`). With `-t`, `-i` decides whether the caller's
        // keyboard reaches the pty.
        stdin: options.interactive || !options.tty,
        verbose: options.verbose,
    };
    let mut spec = sandbox_spec(&options.policy, request);
    spec.proxy_listen = Some(PROXY_LISTEN);
    override_env(&mut spec.env, proxy_env(PROXY_LISTEN));
    override_env(&mut spec.env, crate::credentials::env(&placeholders));
    let capture = TransparentPlan::prepare(&options.policy, &name, &mut spec)?;
    let accounts = crate::accounts::AccountFiles::prepare(&name, &mut spec)?;
    let mut plan = EgressPlan::prepare(
        &options.policy,
        &options.add_hosts,
        AuditTarget {
            path: options.audit.clone(),
            rotate_bytes: None,
        },
    )?;
    let trust = TrustPlan::prepare_ephemeral(&name, options.upstream_ca.as_deref(), &mut spec)?;
    plan.inspection = Some(trust.inspection());
    let (credentials, warnings) = crate::credentials::substitutor(placeholders);
    for warning in warnings {
        eprintln!("cordon: warning: {warning}");
    }
    plan.credentials = std::sync::Arc::new(credentials);
    let workdir = if crate::spec::wants_workdir(&options.policy) {
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
    let mut sandbox = Sandbox::spawn(&spec)?;
    drop(accounts); // mounted by now
    // Before any thread exists, so every thread inherits the narrowed sets.
    let narrowed = crate::privileges::narrow(crate::privileges::Role::Run)?;
    // From here on threads may start. Raised only now: the agent keeps the usual limit.
    cordon_egress::raise_descriptor_limit();
    report(sandbox.notices(), options.verbose);
    if let (Some(line), true) = (&narrowed, options.verbose) {
        eprintln!("cordon: {line}");
    }
    let runtime = proxy_runtime()?;
    let egress = {
        let _context = runtime.enter();
        RunningEgress::start(&mut sandbox, &name, plan)?
    };
    let capture = {
        let _context = runtime.enter();
        capture.serve(&mut sandbox, &egress)?
    };
    if let Some(warning) = &capture.warning {
        eprintln!("cordon: warning: {warning}");
    }
    if options.verbose {
        eprintln!("cordon: egress: proxy on {PROXY_LISTEN} inside the sandbox");
        eprintln!("cordon: tls: sandbox CA {}", trust.fingerprint());
        eprintln!("cordon: egress: {}", capture.line);
    }
    let reloader = match &options.policy_file {
        Some(path) => Some(FileReloader::start(
            path,
            egress.policy().clone(),
            egress.audit().clone(),
            &name,
            options.verbose,
        )?),
        None => None,
    };
    let status = sandbox.wait();
    drop(reloader);
    let stats = runtime.block_on(egress.shutdown());
    runtime.shutdown_background();
    if options.verbose {
        eprintln!("{}", stats.decisions.summary_line());
    }
    let status = status?;
    drop(trust);
    drop(workdir); // after the sandbox is gone: nothing is left writing into it
    Ok(status.code())
}
