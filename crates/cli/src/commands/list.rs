//! `cordon list [--json]`: every sandbox of the user with its state, uptime, policy
//! generation and egress counts.

use clap::Args;
use cordon_supervisor::lifecycle::{self, Summary};
use cordon_supervisor::state::StateRoot;

use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `1h02m`, `3m12s`, `45s`.
pub(crate) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, _) => format!("{h}h{min:02}m"),
    }
}

fn cell(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn row(s: &Summary) -> [String; 7] {
    [
        s.name.clone(),
        s.state.as_str().to_owned(),
        s.uptime_ms.map_or_else(|| "-".to_owned(), duration),
        cell(s.policy_generation),
        cell(s.allowed),
        cell(s.denied),
        s.reason.clone().unwrap_or_default(),
    ]
}

pub fn execute(args: ListArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    let sandboxes = lifecycle::list(&root).map_err(fail)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&sandboxes)?);
        return Ok(exit::SUCCESS);
    }
    let header = [
        "NAME",
        "STATE",
        "UPTIME",
        "GENERATION",
        "ALLOWED",
        "DENIED",
        "INFO",
    ]
    .map(String::from);
    let rows: Vec<[String; 7]> = std::iter::once(header)
        .chain(sandboxes.iter().map(row))
        .collect();
    let mut widths = [0usize; 7];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
    Ok(exit::SUCCESS)
}
