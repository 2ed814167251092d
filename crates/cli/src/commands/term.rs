//! `cordon term [NAME]`: the full-screen terminal UI (cordon-tui) over the user's
//! sandboxes. This file only connects the UI to the state directory: it finds the
//! sandboxes (`lifecycle::list`) and hands each one's control socket, audit log and
//! stored policy to the UI's control-API source (`docs/tui.md`).

use std::io::IsTerminal;

use clap::Args;
use cordon_supervisor::lifecycle::{self, Summary};
use cordon_supervisor::state::StateRoot;
use cordon_tui::{ControlSource, Endpoint, Locator, Options, SandboxRow, TuiError};

use crate::color;
use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct TermArgs {
    /// The sandbox to select at start (default: the first).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// How often the screen fetches fresh data, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(100..=1000))]
    pub refresh_ms: u64,
    /// No colours (also when NO_COLOR is set or TERM=dumb).
    #[arg(long)]
    pub no_color: bool,
}

/// The user's sandboxes, from the state directory.
struct StateLocator {
    root: StateRoot,
}

fn row(summary: Summary) -> SandboxRow {
    SandboxRow {
        name: summary.name,
        state: summary.state.as_str().to_owned(),
        reason: summary.reason,
        uptime_ms: summary.uptime_ms,
        generation: summary.policy_generation,
        allowed: summary.allowed,
        denied: summary.denied,
        restarts: summary.restarts,
    }
}

impl Locator for StateLocator {
    fn sandboxes(&self) -> Result<Vec<SandboxRow>, TuiError> {
        lifecycle::list(&self.root)
            .map(|list| list.into_iter().map(row).collect())
            .map_err(|e| TuiError::Locate(e.to_string()))
    }

    fn endpoint(&self, name: &str) -> Result<(Endpoint, bool), TuiError> {
        let locate = |e: cordon_supervisor::SupervisorError| TuiError::Locate(e.to_string());
        let dir = self.root.sandbox(name).map_err(locate)?;
        let alive = dir.supervisor_alive().map_err(locate)?;
        let endpoint = Endpoint {
            control: dir.control_socket(),
            audit_log: dir.audit_path(),
            policy_file: dir.policy_path(),
            // The socket path goes through this open directory (`/proc/self/fd/N/...`).
            keep_alive: Box::new(dir),
        };
        Ok((endpoint, alive))
    }
}

pub fn execute(args: TermArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    if let Some(name) = &args.name {
        // An unknown name is the same one-line error every other command gives.
        root.sandbox(name).map_err(fail)?;
    }
    let mut source = ControlSource::new(StateLocator { root })?;
    let options = Options {
        select: args.name,
        refresh: std::time::Duration::from_millis(args.refresh_ms),
        color: !args.no_color && color::enabled(std::io::stdout().is_terminal()),
    };
    cordon_tui::run(&mut source, &options)
        .map_err(|e| exit::Exit::new(exit::CORDON_FAILED, e.to_string()))?;
    Ok(exit::SUCCESS)
}
