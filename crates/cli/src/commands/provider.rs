//! `cordon provider create|list|rm`: the inference providers (and generic credentials)
//! whose keys cordon holds for sandboxes. Keys are read once, at `create`, from an
//! environment variable or a file, stored 0600 in the user's configuration directory
//! (`$XDG_CONFIG_HOME/cordon`, else `~/.config/cordon`), and never printed back: only a
//! fingerprint. Exit 1 for bad input (unknown type or provider, bad name or URL,
//! missing key), 125 when cordon cannot read or write its files.

use std::io::Read;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use cordon_inference::{
    InferenceError, NewProvider, ProviderKind, ProviderRecord, ProviderRegistry,
};
use cordon_secrets::{ConfigDir, MAX_SECRET_BYTES, SecretValue, SecretsError};

use crate::exit;

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Store a provider and its key (read from --key-env or --key-file, never printed).
    Create(CreateArgs),
    /// List stored providers (key fingerprints only).
    List(ListArgs),
    /// Remove a provider and its key.
    Rm(RmArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key").required(true).args(["key_env", "key_file", "no_key"])))]
pub struct CreateArgs {
    /// Name: 1-63 of a-z, 0-9, `_`, `.`, `-`.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// openai, anthropic, nvidia, ollama, openai-compatible, or generic (a credential
    /// for --secret placeholders, not an inference route).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: String,
    /// API root (default per type; required for openai-compatible). `/v1` is added
    /// when the URL has no path.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Read the key from this environment variable of the cordon process.
    #[arg(long, value_name = "VAR")]
    pub key_env: Option<String>,
    /// Read the key from this file (`-` = standard input).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// The provider needs no key (ollama, openai-compatible).
    #[arg(long)]
    pub no_key: bool,
    /// Overwrite an existing provider of that name (key rotation).
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// The provider to remove.
    #[arg(value_name = "NAME")]
    pub name: String,
}

pub fn execute(cmd: ProviderCommand) -> anyhow::Result<u8> {
    let registry = ProviderRegistry::new(config_dir()?);
    match cmd {
        ProviderCommand::Create(args) => create(&registry, args),
        ProviderCommand::List(args) => list(&registry, &args),
        ProviderCommand::Rm(args) => {
            let record = registry.remove(&args.name).map_err(fail)?;
            println!("removed provider {}", record.name);
            Ok(exit::SUCCESS)
        }
    }
}

/// The user's configuration directory, from the environment of this process.
pub(crate) fn config_dir() -> anyhow::Result<ConfigDir> {
    ConfigDir::from_env().map_err(|e| fail(e.into()))
}

fn create(registry: &ProviderRegistry, args: CreateArgs) -> anyhow::Result<u8> {
    let kind: ProviderKind = args.kind.parse().map_err(|_| {
        let known: Vec<_> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        exit::Exit::new(
            exit::INVALID,
            format!(
                "unknown provider type `{}` (one of: {})",
                args.kind,
                known.join(", ")
            ),
        )
    })?;
    let key = read_key(&args)?;
    let record = registry
        .create(
            NewProvider {
                name: args.name,
                kind,
                base_url: args.base_url,
                key,
            },
            args.replace,
            now_ms(),
        )
        .map_err(fail)?;
    println!(
        "created provider {} (type {}{}, key {})",
        record.name,
        record.kind,
        record
            .base_url
            .as_deref()
            .map(|u| format!(", {u}"))
            .unwrap_or_default(),
        record
            .key_fingerprint
            .as_ref()
            .map_or("none", |f| f.as_str())
    );
    Ok(exit::SUCCESS)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn read_key(args: &CreateArgs) -> anyhow::Result<Option<SecretValue>> {
    let invalid = |msg: String| exit::Exit::new(exit::INVALID, msg);
    let raw = if let Some(var) = &args.key_env {
        std::env::var(var).map_err(|_| {
            invalid(format!(
                "environment variable {var} is not set (or not UTF-8)"
            ))
        })?
    } else if let Some(path) = &args.key_file {
        let mut text = String::new();
        let limit = (MAX_SECRET_BYTES + 2) as u64;
        let result = if path.as_os_str() == "-" {
            std::io::stdin().take(limit).read_to_string(&mut text)
        } else {
            std::fs::File::open(path).and_then(|f| f.take(limit).read_to_string(&mut text))
        };
        result.map_err(|e| invalid(format!("cannot read key file {}: {e}", path.display())))?;
        text
    } else {
        return Ok(None);
    };
    SecretValue::new(raw)
        .map(Some)
        .map_err(|e| invalid(e.to_string()).into())
}

fn list(registry: &ProviderRegistry, args: &ListArgs) -> anyhow::Result<u8> {
    let records = registry.list().map_err(fail)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(exit::SUCCESS);
    }
    print_table(&records);
    Ok(exit::SUCCESS)
}

fn print_table(records: &[ProviderRecord]) {
    let rows: Vec<[String; 4]> = records
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.kind.to_string(),
                r.base_url.clone().unwrap_or_else(|| "-".into()),
                r.key_fingerprint
                    .as_ref()
                    .map_or_else(|| "none".into(), |f| f.to_string()),
            ]
        })
        .collect();
    let header = ["NAME", "TYPE", "BASE URL", "KEY"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].len())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2)];
    let line = |cells: [&str; 4]| {
        println!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3]]);
    }
}

/// Maps the layer's errors to exit codes: the operator's input is 1, cordon's own
/// files and environment are 125.
pub(crate) fn fail(err: InferenceError) -> anyhow::Error {
    let code = match &err {
        InferenceError::InvalidProvider(_)
        | InferenceError::UnknownProvider(_)
        | InferenceError::ProviderExists(_)
        | InferenceError::NotRoutable(_)
        | InferenceError::Secrets(SecretsError::InvalidName(_) | SecretsError::InvalidSecret(_)) => {
            exit::INVALID
        }
        _ => exit::CORDON_FAILED,
    };
    exit::Exit::new(code, err.to_string()).into()
}
