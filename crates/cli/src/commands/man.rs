//! `cordon man [COMMAND]... [--dir DIR]`: manual pages in roff, generated from the clap
//! definition (clap_mangen), so they cannot drift from `--help`. Without arguments the
//! page of `cordon` itself goes to stdout (`cordon man | man -l -`); `cordon man policy
//! set` prints that subcommand's page; `--dir DIR` writes every page (`cordon.1`,
//! `cordon-create.1`, `cordon-policy-set.1`, ...) for packaging (`docs/cli.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Command, CommandFactory};
use clap_mangen::Man;

use crate::exit;

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (e.g. `policy set`); none: `cordon` itself.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Write every page into DIR (created if missing) instead of printing one.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

/// `cordon`, built, so every subcommand carries its display name (`cordon-policy-set`),
/// which names its page.
fn definition() -> Command {
    let mut command = crate::Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The page of `command`, footed "cordon VERSION" whichever subcommand it is.
fn page(command: Command) -> Man {
    Man::new(command)
        .source(format!("cordon {}", env!("CARGO_PKG_VERSION")))
        .manual("cordon manual")
}

/// Writes the page of `command` and of every visible subcommand below it into `dir`.
fn write_all(command: &Command, dir: &Path) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_all(sub, dir)?;
    }
    page(command.clone()).generate_to(dir).map(drop)
}

pub fn execute(args: ManArgs) -> anyhow::Result<u8> {
    let root = definition();
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir)
            .and_then(|()| write_all(&root, &dir))
            .map_err(|e| {
                exit::Exit::new(
                    exit::CORDON_FAILED,
                    format!("cannot write manual pages to {}: {e}", dir.display()),
                )
            })?;
        return Ok(exit::SUCCESS);
    }
    let mut command = root;
    for (depth, name) in args.command.iter().enumerate() {
        let found = command
            .get_subcommands()
            .find(|c| !c.is_hide_set() && c.get_name() == name)
            .cloned();
        command = found.ok_or_else(|| {
            exit::Exit::new(
                exit::INVALID,
                format!(
                    "no manual page for `cordon {}`: unknown command",
                    args.command[..=depth].join(" ")
                ),
            )
        })?;
    }
    let mut roff = Vec::new();
    page(command).render(&mut roff)?;
    match std::io::stdout().lock().write_all(&roff) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::SUCCESS),
        result => {
            result?;
            Ok(exit::SUCCESS)
        }
    }
}
