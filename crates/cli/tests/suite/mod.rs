//! Topics; each helper module drives the real binary with real clients.
mod policy_cli;
mod common;
mod sandbox_escape;
mod sandbox_run;
