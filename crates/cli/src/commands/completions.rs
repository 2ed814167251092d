//! `cordon completions bash|zsh|fish`: the shell completion script, generated from the
//! same clap definition that parses the command line (so it cannot drift from it).
//!
//! Install: `cordon completions bash > /etc/bash_completion.d/cordon`,
//! `cordon completions zsh > "${fpath[1]}/_cordon"`,
//! `cordon completions fish > ~/.config/fish/completions/cordon.fish`.

use std::io::Write;

use clap::{Args, Command, CommandFactory, ValueEnum};
use clap_complete::Shell as Generator;

use crate::exit;

/// The shells cordon ships completions for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The root command without its hidden subcommands (`__supervise` is cordon's own
/// re-exec entry point, not something to offer at a prompt; clap_complete lists hidden
/// subcommands, so they are left out here).
fn offered() -> Command {
    let root = crate::Cli::command();
    let visible: Vec<Command> = root
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .cloned()
        .collect();
    let mut copy = Command::new("cordon")
        .version(env!("CARGO_PKG_VERSION"))
        .args(root.get_arguments().cloned())
        .subcommands(visible)
        .propagate_version(true);
    if let Some(about) = root.get_about() {
        copy = copy.about(about.clone());
    }
    copy
}

pub fn execute(args: CompletionsArgs) -> anyhow::Result<u8> {
    let generator = match args.shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    // Into a buffer first: clap_complete panics on a write error, and `| head` is one.
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut offered(), "cordon", &mut script);
    match std::io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::SUCCESS),
        result => {
            result?;
            Ok(exit::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_subcommand_is_offered_and_no_hidden_one() {
        let full = crate::Cli::command();
        let offered = offered();
        let names = |c: &Command| -> Vec<String> {
            c.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name().to_owned())
                .collect()
        };
        assert_eq!(names(&full), names(&offered));
        assert!(offered.get_subcommands().all(|s| !s.is_hide_set()));
        assert!(full.get_subcommands().any(|s| s.is_hide_set()));
        offered.debug_assert();
    }
}
