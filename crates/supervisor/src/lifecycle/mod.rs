//! Named, persistent sandboxes: `create`, `start`, `stop`, `rm`, `list`, `status`,
//! `exec`, `logs`, `policy get/set`, and the detached supervisor that runs each one
//! (`docs/lifecycle.md`).
//!
//! - `create`: laying out a sandbox and detaching its supervisor;
//! - `supervise`: the supervisor process (spawn, serve, wait, restart);
//! - `api`, `exec_server`: what the supervisor serves on its two sockets;
//! - `approvals`: approving (a new policy generation) and dismissing pending requests;
//! - `client`: the CLI's side of `exec` and `policy get/set`;
//! - `approvals_client`: the CLI's side of `approvals`, `approve`, `deny`;
//! - `inspect`: `list` and `status`;
//! - `remove`: `stop` and `rm`;
//! - `logs`: the main process's log (writer with rotation, reader with follow).

mod api;
mod approvals;
mod approvals_client;
pub(crate) mod client;
mod create;
mod exec_server;
mod inspect;
pub(crate) mod logs;
pub(crate) mod remove;
mod supervise;

pub use approvals_client::{approvals, approve, deny};
pub use client::{ExecOptions, exec, policy_get, policy_set, policy_set_text};
pub use cordon_control::api::{Approval, Approve, Approved, MainProcess, MainState};
pub use create::{CreateOptions, Started, create, start};
pub use inspect::{Status, Summary, list, status};
pub use logs::{DEFAULT_LOG_MAX_BYTES, LogOptions, Record, print_logs};
pub use remove::{remove, stop};
pub use supervise::{LOCK_FD_FLAG, RESTARTED_FLAG, SUPERVISE_COMMAND, supervise};
