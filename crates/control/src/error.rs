//! `ControlError`: why talking to a supervisor failed.

use std::path::PathBuf;

/// A failure of the control or exec socket.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The socket could not be reached (no supervisor, or it just exited).
    #[error("cannot reach the supervisor at {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The socket could not be created.
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("control connection: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP exchange failed.
    #[error("control request failed: {0}")]
    Http(String),
    /// A reply or frame did not decode.
    #[error("malformed control message: {0}")]
    Malformed(String),
}
