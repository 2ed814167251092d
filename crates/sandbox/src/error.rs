//! `SandboxError`: every way starting or running a sandbox can fail, each naming the step
//! that failed and, where one exists, how to fix it.

use std::io;

/// Why a sandbox could not be started or waited for.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel lacks something the sandbox needs; `hint` says how to get it.
    #[error("{feature} is not available ({detail}); {hint}")]
    Unsupported {
        feature: &'static str,
        detail: String,
        hint: &'static str,
    },
    /// The spec asks for something impossible (an empty command, a relative path...).
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// A host-side step failed before or while creating the sandbox.
    #[error("{step}: {source}")]
    Setup {
        step: String,
        #[source]
        source: io::Error,
    },
    /// A step inside the sandbox failed; the message comes from the child and names the step.
    #[error("{0}")]
    Child(String),
    /// `hard_requirement` Landlock could not be fully enforced, or a path is missing.
    #[error("landlock (hard_requirement): {0}")]
    Landlock(String),
    /// The command does not exist inside the sandbox (exit 127).
    #[error("{command}: command not found inside the sandbox")]
    CommandNotFound { command: String },
    /// The command exists but cannot be executed (exit 126).
    #[error("{command}: cannot execute inside the sandbox: {source}")]
    NotExecutable {
        command: String,
        #[source]
        source: io::Error,
    },
}

impl SandboxError {
    /// Wraps an `io::Error` with the host-side step that produced it.
    pub(crate) fn setup(step: impl Into<String>, source: io::Error) -> Self {
        SandboxError::Setup {
            step: step.into(),
            source,
        }
    }
}
