//! `TuiError`: why the terminal UI could not show or change something.

use std::path::PathBuf;

/// A failure of the terminal or of a [`crate::Source`].
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be set up, drawn to or read from.
    #[error("terminal: {0}")]
    Terminal(#[source] std::io::Error),
    /// The supervisor could not be reached or answered garbage.
    #[error(transparent)]
    Control(#[from] cordon_control::ControlError),
    /// The supervisor refused the request.
    #[error("{message}")]
    Api {
        /// The API's machine-readable error (`not_found`, `bad_request`, ...).
        error: String,
        message: String,
    },
    /// The supervisor does not serve this yet (an older or unfinished control API).
    #[error("the supervisor has no {0} endpoint yet")]
    Unsupported(String),
    /// The request needs a running sandbox.
    #[error("sandbox {0} is not running")]
    NotRunning(String),
    /// Finding the user's sandboxes failed (state directory).
    #[error("{0}")]
    Locate(String),
    /// A state file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
