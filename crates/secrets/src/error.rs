//! [`SecretsError`]: what went wrong reading, writing or validating a credential. No
//! variant ever carries a secret value: messages name files, credentials and rules.

use std::io;
use std::path::PathBuf;

/// Every failure of this crate.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Neither `$XDG_CONFIG_HOME` nor `$HOME` is set (or they are relative paths), so
    /// there is no per-user place to keep credentials.
    #[error(
        "cannot find the configuration directory: set XDG_CONFIG_HOME or HOME to an absolute path"
    )]
    NoConfigDir,
    /// A file-system operation on the configuration directory failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `creating`, `renaming`...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A credential file is readable by others or owned by someone else: refuse to use
    /// it, the way ssh refuses a private key with loose permissions.
    #[error("{} is {problem}; fix it with `chmod 600` (file) / `chmod 700` (directory) as its owner", path.display())]
    InsecurePermissions {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong, e.g. `mode 0644 (must be 0600)`.
        problem: String,
    },
    /// A stored file does not parse (edited by hand, truncated by a full disk...).
    #[error("{} is not a valid cordon file: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message (never the file's content).
        reason: String,
    },
    /// A name does not follow `[a-z0-9][a-z0-9_.-]{0,62}`.
    #[error(
        "invalid name `{0}`: use 1-63 characters from a-z, 0-9, `_`, `.`, `-`, starting with a letter or digit"
    )]
    InvalidName(String),
    /// A secret value cannot be used (empty, or contains characters an HTTP header
    /// cannot carry).
    #[error("invalid secret value: {0}")]
    InvalidSecret(&'static str),
    /// The operating system's random source failed.
    #[error("cannot read random bytes: {0}")]
    Random(String),
}

impl SecretsError {
    /// Shorthand for an I/O error on a path.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SecretsError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
