//! `SupervisorError`: why the supervisor could not start, serve or manage a sandbox.

use std::path::PathBuf;

use cordon_audit::AuditError;
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
    #[error("policy rejected:\n{0}")]
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
    /// The sandbox did not hand over its proxy listener.
    #[error("the sandbox handed over no proxy listener")]
    NoProxyListener,
    /// The policy file cannot be watched for hot reload.
    #[error("cannot watch policy file {path} for changes: {message}")]
    Watch { path: PathBuf, message: String },
    /// The async runtime serving the proxy could not start.
    #[error("cannot start the proxy runtime: {0}")]
    Runtime(#[source] std::io::Error),
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
            _ => FailureKind::Cordon,
        }
    }
}
