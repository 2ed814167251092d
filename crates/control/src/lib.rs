//! cordon-control: how the CLI talks to a named sandbox's supervisor. Two Unix sockets in
//! the sandbox's state directory (mode 0600, in a 0700 directory), both checking the
//! peer's uid with `SO_PEERCRED` on every connection:
//!
//! - `control.sock`: a small JSON API over HTTP/1.1 (axum server, hyper client), versioned
//!   by path (`/v1/...`): status, policy get/set, stop;
//! - `exec.sock`: `SOCK_SEQPACKET` frames carrying descriptors (SCM_RIGHTS), for
//!   `cordon exec`: the caller's stdin/stdout/stderr (or, with a terminal, the pty master
//!   coming back) travel as descriptors, so no byte of the session passes through the
//!   supervisor.
//!
//! It knows nothing of policies or sandboxes beyond the wire types: the supervisor serves
//! the routes, the CLI calls them.
//!
//! # Layout
//! - `api`: the versioned wire types and paths.
//! - `server`: binding the sockets and the uid check on accept.
//! - `client`: one HTTP request over the control socket.
//! - `exec`: the exec frames and descriptor passing.
//! - `error`: `ControlError`.
#![forbid(unsafe_code)]

pub mod api;
mod client;
mod error;
pub mod exec;
mod server;

pub use client::{Client, Reply};
pub use error::ControlError;
pub use server::{PeerChecked, bind_control, serve};
