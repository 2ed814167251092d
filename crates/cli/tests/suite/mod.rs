//! Topics; each helper module drives the real binary with real clients.
mod common;
mod egress_run;
mod policy_cli;
mod sandbox_escape;
mod sandbox_network;
mod sandbox_run;
