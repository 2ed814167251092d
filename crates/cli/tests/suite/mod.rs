//! Topics; each helper module drives the real binary with real clients.
mod catalog_cli;
mod common;
mod egress_run;
mod inference_cli;
mod inference_run;
mod lifecycle;
mod policy_cli;
mod provider_cli;
mod qa_conformance;
mod sandbox_escape;
mod sandbox_network;
mod sandbox_run;
mod tls_run;
mod transparent;
mod tui_cli_quality;
mod tui_term;
