//! `SupervisorError`: why the supervisor could not start, serve or manage a sandbox.

use std::path::PathBuf;

use cordon_audit::AuditError;
use cordon_control::ControlError;
use cordon_egress::EgressError;
use cordon_sandbox::SandboxError;

/// A failure of the supervisor or of a layer it started.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// `--workdir` names something that is not a usable directory.
    #[error("workdir {path}: {reason} (create the directory, or omit --workdir for a fresh one)")]
    Workdir { path: PathBuf, reason: String },
    /// The fresh per-run workdir could not be created.
    #[error(
        "cannot create a fresh workdir in {dir}: {source} (set TMPDIR to a writable directory)"
    )]
    FreshWorkdir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `--env` argument is malformed.
    #[error("--env {0:?}: expected NAME=VALUE or NAME")]
    Env(String),
    /// `--name` is not a usable sandbox name.
    #[error("--name {0:?}: use 1-64 letters, digits, '-', '_' or '.'")]
    Name(String),
    /// The kernel sandbox failed (its message names the step).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The policy could not be compiled for the proxy.
    #[error("policy rejected:{}", block(.0))]
    Policy(String),
    /// `--audit FILE` cannot be opened for appending.
    #[error("cannot open audit log {path}: {source}")]
    AuditFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The audit writer could not start.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The egress proxy could not start (or an `--add-host` value is malformed).
    #[error(transparent)]
    Egress(#[from] EgressError),
    /// The sandbox CA or its trust bundle could not be prepared.
    #[error("TLS inspection: {0}")]
    Trust(String),
    /// The sandbox did not hand over its proxy listener.
    #[error("the sandbox handed over no proxy listener")]
    NoProxyListener,
    /// The policy file cannot be watched for hot reload.
    #[error("cannot watch policy file {path} for changes: {message}")]
    Watch { path: PathBuf, message: String },
    /// The async runtime serving the proxy could not start.
    #[error("cannot start the proxy runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The state directory is unusable (missing environment, wrong owner).
    #[error("state directory: {0}")]
    StateRoot(String),
    /// A file of a sandbox's state could not be read or written.
    #[error("{path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A sandbox name does not match `[a-z0-9][a-z0-9_.-]{0,62}`.
    #[error(
        "invalid sandbox name {0:?}: use 1-63 characters a-z, 0-9, '_', '.', '-', starting with a letter or digit"
    )]
    InvalidName(String),
    /// No sandbox of that name (for this user).
    #[error("no sandbox named {0:?} (see `cordon list`)")]
    NoSuchSandbox(String),
    /// `create` with a name in use.
    #[error("a sandbox named {0:?} already exists (remove it with `cordon rm {0}`)")]
    AlreadyExists(String),
    /// The operation needs a stopped sandbox.
    #[error("sandbox {0:?} is running (stop it first, or use --force)")]
    Running(String),
    /// The operation needs a running sandbox.
    #[error("sandbox {0:?} is not running (start it with `cordon start {0}`)")]
    NotRunning(String),
    /// A policy given to `create` or `policy set` is invalid.
    #[error("{0}")]
    PolicyInvalid(String),
    /// `policy set` changes sections that need a restart.
    #[error("{0}")]
    NeedsRestart(String),
    /// The supervisor could not start the sandbox; `kind` picks the exit code.
    #[error("{message}")]
    StartFailed { kind: FailureKind, message: String },
    /// `approve`/`deny` of an id that is not pending (the supervisor's message).
    #[error("{0}")]
    NoSuchApproval(String),
    /// The supervisor refused a control request (its message).
    #[error("{0}")]
    Refused(String),
    /// Talking to the supervisor failed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The supervisor ended an exchange unexpectedly.
    #[error("the supervisor of {0:?} went away")]
    SupervisorGone(String),
}

impl SupervisorError {
    /// A state file error.
    pub(crate) fn state(path: &std::path::Path, source: std::io::Error) -> SupervisorError {
        SupervisorError::State {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Which of the docker/podman exit-code classes a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The command does not exist inside the sandbox (127).
    CommandNotFound,
    /// The command exists but cannot be executed (126).
    CommandNotExecutable,
    /// cordon itself failed (125).
    Cordon,
    /// The input was understood and is wrong: an unknown sandbox, an invalid policy (1).
    Invalid,
}

impl SupervisorError {
    /// The exit-code class of this failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            SupervisorError::Sandbox(SandboxError::CommandNotFound { .. }) => {
                FailureKind::CommandNotFound
            }
            SupervisorError::Sandbox(SandboxError::NotExecutable { .. }) => {
                FailureKind::CommandNotExecutable
            }
            SupervisorError::StartFailed { kind, .. } => *kind,
            SupervisorError::NoSuchSandbox(_)
            | SupervisorError::AlreadyExists(_)
            | SupervisorError::Running(_)
            | SupervisorError::NotRunning(_)
            | SupervisorError::PolicyInvalid(_)
            | SupervisorError::NeedsRestart(_)
            | SupervisorError::NoSuchApproval(_) => FailureKind::Invalid,
            _ => FailureKind::Cordon,
        }
    }
}

/// One problem stays on the line it explains; several start on the next line, one each.
fn block(problems: &str) -> String {
    if problems.contains('\n') {
        format!("\n{problems}")
    } else {
        format!(" {problems}")
    }
}
