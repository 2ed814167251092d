//! One module per subcommand; each exposes its clap arguments and an `execute`
//! returning the exit code.

pub mod approvals;
pub mod approve;
pub mod completions;
pub mod create;
pub mod deny;
pub mod exec;
pub mod inference;
pub mod list;
pub mod logs;
pub mod man;
pub mod onboard;
pub mod policy;
pub mod policy_live;
pub mod preset;
pub mod profile;
pub mod provider;
pub mod rm;
pub mod run;
pub mod start;
pub mod status;
pub mod stop;
pub mod supervise;
pub mod term;
