//! cordon-supervisor: the composition root. It turns a policy and the user's request into
//! the plain-data specs of each layer, starts them in the right order and reports how they
//! were applied. It decides nothing about traffic itself (that is the policy engine's) and
//! touches the kernel only through cordon-sandbox.
//!
//! # Layout
//! - `agents`: sandboxes made from an agent profile (`create --agent`, `onboard`);
//! - `run`: `cordon run` end to end (spec, sandbox, proxy, wait, cleanup);
//! - `proxy`: the egress proxy of one sandbox (address, agent variables, start/stop);
//! - `credentials`: `--secret` placeholders (issued, recorded, their real values
//!   loaded for the proxy only);
//! - `inference`: the inference router behind `inference.local`, following the policy;
//! - `reload`: the watched policy file of `cordon run`;
//! - `spec`: Policy -> `SandboxSpec`;
//! - `transparent`: transparent capture (capture sockets, policy DNS, resolv.conf);
//! - `env`: the environment allow-list;
//! - `workdir`: the fresh per-run working directory;
//! - `state`: the on-disk state of named sandboxes (records, locks);
//! - `lifecycle`: named sandboxes (create, supervise, exec, stop, ...);
//! - `error`: `SupervisorError`.
#![forbid(unsafe_code)]

mod accounts;
pub mod agents;
mod credentials;
mod env;
mod error;
mod inference;
pub mod lifecycle;
mod privileges;
mod proxy;
mod reload;
mod run;
mod scratch;
mod spec;
pub mod state;
mod transparent;
mod trust;
mod workdir;

pub use credentials::SecretRecord;
pub use env::{EnvArg, filter_env};
pub use error::{FailureKind, SupervisorError};
pub use proxy::{AuditTarget, PROXY_LISTEN};
pub use run::{RunOptions, run};
pub use spec::{RunRequest, sandbox_spec};
