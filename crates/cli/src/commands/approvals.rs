//! `cordon approvals NAME [--json]`: the destinations a running sandbox was refused
//! because no policy entry allows them, waiting for `cordon approve` or `cordon deny`.
//! Exit 1 when the sandbox does not exist or is not running.

use clap::Args;
use cordon_supervisor::lifecycle::{self, Approval};
use cordon_supervisor::state::StateRoot;

use crate::commands::list::duration;
use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `3m12s ago`, from a time in ms since the epoch.
fn ago(now_ms: u64, at_ms: u64) -> String {
    format!("{} ago", duration(now_ms.saturating_sub(at_ms)))
}

fn row(a: &Approval, now_ms: u64) -> [String; 7] {
    [
        a.id.clone(),
        a.host.clone(),
        a.port.to_string(),
        a.binary.clone().unwrap_or_else(|| "(unknown)".to_owned()),
        a.count.to_string(),
        ago(now_ms, a.first_seen_ms),
        ago(now_ms, a.last_seen_ms),
    ]
}

pub fn execute(args: ApprovalsArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    let pending = lifecycle::approvals(&root, &args.name).map_err(fail)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&pending)?);
        return Ok(exit::SUCCESS);
    }
    if pending.is_empty() {
        println!("{}: no pending approvals", args.name);
        return Ok(exit::SUCCESS);
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let header = ["ID", "HOST", "PORT", "BINARY", "COUNT", "FIRST", "LAST"].map(String::from);
    let rows: Vec<[String; 7]> = std::iter::once(header)
        .chain(pending.iter().map(|a| row(a, now_ms)))
        .collect();
    let mut widths = [0usize; 7];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, width)| format!("{c:<width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(exit::SUCCESS)
}
