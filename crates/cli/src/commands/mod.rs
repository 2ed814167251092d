//! One module per subcommand; each exposes its clap arguments and an `execute`
//! returning the exit code.

pub mod policy;
pub mod run;
