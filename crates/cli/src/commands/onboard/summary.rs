//! The end of `cordon onboard`: what runs where, and the commands to reach it.
//! Everything is read back from the created sandbox (its records and live status),
//! so the summary shows what is, not what was asked.

use std::time::{Duration, Instant};

use cordon_supervisor::lifecycle::{self, MainState};
use cordon_supervisor::state::StateRoot;

use super::Choices;
use crate::commands::run::fail;

/// How long the summary watches a fresh main process before calling the sandbox
/// running: a program that cannot start (a usage error, a shell with nothing to read)
/// is gone well within it, and saying "running" about it would be false.
const SETTLE: Duration = Duration::from_secs(1);

/// The sandbox's status once its main process has run for [`SETTLE`], or as soon as
/// it is seen not running.
fn settled_status(root: &StateRoot, name: &str) -> anyhow::Result<lifecycle::Status> {
    let start = Instant::now();
    loop {
        let status = lifecycle::status(root, name).map_err(fail)?;
        let main_runs = status.main.is_some_and(|m| m.state == MainState::Running);
        if !main_runs || start.elapsed() >= SETTLE {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prints the summary on stdout.
pub(super) fn print(root: &StateRoot, choices: &Choices, running: bool) -> anyhow::Result<()> {
    let name = &choices.name;
    let status = settled_status(root, name)?;
    let dir = root.sandbox(name).map_err(fail)?;
    let meta = &status.meta;
    let color = crate::color::enabled(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let (bold, green, reset) = if color {
        ("\x1b[1m", "\x1b[32m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let state = status.summary.state.as_str();
    // The sandbox stops when its main process ends, so "running" is only claimed while
    // the main process runs; a main process that already ended is said, not hidden.
    let main = status.main.map(|m| m.state);
    let up = running && state == "running" && main == Some(MainState::Running);
    let mark = if up {
        format!("{green}✓{reset}")
    } else {
        "!".to_owned()
    };
    println!();
    // A live supervisor whose main process is gone (or no longer reported) is
    // finishing, not running.
    if state == "running" && !up {
        println!(
            "{mark} {bold}sandbox {name}: its main process exited, the sandbox is stopping{reset}"
        );
    } else {
        println!("{mark} {bold}sandbox {name} is {state}{reset}");
    }
    if let Some(reason) = &status.summary.reason {
        println!("  ({reason})");
    }
    if !up {
        println!("  (its output: cordon logs {name}; again: cordon start {name})");
    }
    println!();
    let row = |label: &str, value: String| println!("  {label:<10} {value}");
    row(
        "agent",
        format!("{} — {}", choices.agent.name, meta.command.join(" ")),
    );
    row(
        "sandbox",
        format!(
            "{name} (state in {}; supervisor log {})",
            dir.path().display(),
            dir.supervisor_log_path().display()
        ),
    );
    row(
        "workdir",
        format!(
            "{} on the host = /sandbox inside, the agent's HOME (writable)",
            meta.workdir.display()
        ),
    );
    for (inside, _) in &meta.extra_ro_files {
        row(
            "config",
            format!(
                "{} written by cordon, read-only to the agent",
                inside.display()
            ),
        );
    }
    row(
        "policy",
        format!(
            "{} (from {})",
            dir.policy_path().display(),
            meta.policy_source
        ),
    );
    let provider = &choices.provider;
    row(
        "inference",
        format!(
            "http://inference.local → provider {} ({}{}){}{}; the key stays on the host",
            provider.name,
            provider.kind,
            provider
                .base_url
                .as_deref()
                .map(|u| format!(", {u}"))
                .unwrap_or_default(),
            choices
                .model
                .as_deref()
                .map(|m| format!(", model {m}"))
                .unwrap_or_default(),
            if provider.created {
                ", created now"
            } else {
                ""
            }
        ),
    );
    let proxy = status
        .live
        .as_ref()
        .map_or_else(|| "-".to_owned(), |l| l.egress.proxy.clone());
    row(
        "proxy",
        format!(
            "{proxy} inside the sandbox; anything the policy does not allow is denied and listed as a pending approval"
        ),
    );
    row(
        "presets",
        if choices.presets.is_empty() {
            "none (add one later: cordon preset apply NAME ".to_owned() + name + ")"
        } else {
            choices.presets.join(", ")
        },
    );
    println!();
    println!("{bold}Next{reset}");
    let next = |command: String, what: &str| println!("  {command:<34} {what}");
    next(
        format!("cordon connect {name}"),
        "a shell inside the sandbox",
    );
    next(
        format!("cordon logs -f {name}"),
        "follow the agent's output",
    );
    next(
        "cordon term".to_owned(),
        "watch its traffic, approve or deny requests",
    );
    next(
        format!("cordon status {name}"),
        "everything about the sandbox",
    );
    next(format!("cordon rm -f {name}"), "remove it");
    Ok(())
}
