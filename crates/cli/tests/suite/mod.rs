//! Topics; each helper module drives the real binary with real clients.
mod policy_cli;
