//! `cordon policy validate|show|explain`: the operator's view of the policy engine.
//!
//! All three go through cordon-policy (`load_file`, `CompiledPolicy`); nothing here
//! matches hosts or rules itself. Exit codes: `validate` 0 when every file is valid, 1
//! when any is invalid or unreadable; `show`/`explain` 1 for an invalid policy, 125
//! for an unreadable file or bad flags (`show` without FILE shows the default); `explain` exits 0 whatever the decision (the
//! decision is the output, use `--json` to script on it).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use cordon_policy::{
    CompiledPolicy, ConnectDecision, DenyReason, LoadedPolicy, Policy, PolicyError,
    RequestDecision, Verdict,
};
use serde_json::json;

use crate::exit;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files; print every problem (with file:line:column, field and fix).
    Validate {
        /// Policy files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print a policy normalised (defaults filled in), as YAML or JSON.
    Show(ShowArgs),
    /// Ask the engine what it would decide for a connection (and request), and why.
    Explain(ExplainArgs),
    /// Print the policy in force in a named sandbox.
    Get(super::policy_live::GetArgs),
    /// Hot-reload a named sandbox's policy (network sections; static ones need a restart).
    Set(super::policy_live::SetArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source"))]
pub struct ShowArgs {
    /// Show the built-in default policy (also what `show` without FILE prints).
    #[arg(long, group = "source")]
    default: bool,
    /// Policy file to show.
    #[arg(group = "source", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print JSON instead of YAML.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true))]
pub struct ExplainArgs {
    /// Policy file to ask.
    #[arg(group = "source", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Ask the built-in default policy instead of a file.
    #[arg(long, group = "source")]
    default: bool,
    /// Destination host name or IP address.
    #[arg(long)]
    host: String,
    /// Destination port.
    #[arg(long)]
    port: u16,
    /// Absolute path of the executable opening the connection (omit = unknown).
    #[arg(long, value_name = "PATH")]
    binary: Option<String>,
    /// HTTP method of a request to check on an inspected endpoint.
    #[arg(long, requires = "path")]
    method: Option<String>,
    /// HTTP request path (percent-encoded, without the query).
    #[arg(long, requires = "method")]
    path: Option<String>,
    /// Query string (without `?`).
    #[arg(long, requires = "path")]
    query: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn execute(cmd: PolicyCommand) -> anyhow::Result<u8> {
    match cmd {
        PolicyCommand::Validate { files } => Ok(validate(&files)),
        PolicyCommand::Show(args) => show(&args),
        PolicyCommand::Explain(args) => explain(&args),
        PolicyCommand::Get(args) => super::policy_live::get(args),
        PolicyCommand::Set(args) => super::policy_live::set(args),
    }
}

fn validate(files: &[PathBuf]) -> u8 {
    let mut code = exit::SUCCESS;
    for file in files {
        match cordon_policy::load_file(file) {
            Ok(loaded) => {
                print_warnings(&loaded);
                println!("{}: valid", file.display());
            }
            Err(err) => {
                for problem in &err.problems {
                    eprintln!("error: {problem}");
                }
                code = exit::INVALID;
            }
        }
    }
    code
}

fn print_warnings(loaded: &LoadedPolicy) {
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
}

/// Loads the policy for `show`/`explain`: an unreadable file is cordon's failure
/// (125), an invalid one the user's (1, every problem printed).
fn load(file: Option<&Path>) -> anyhow::Result<Policy> {
    let Some(file) = file else {
        return Ok(cordon_policy::default_policy());
    };
    let bytes = cordon_policy::read_file(file).map_err(|err| {
        exit::Exit::new(
            exit::CORDON_FAILED,
            err.problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    match cordon_policy::parse_bytes(&bytes, &file.display().to_string()) {
        Ok(loaded) => {
            print_warnings(&loaded);
            Ok(loaded.policy)
        }
        Err(err) => Err(invalid(&err)),
    }
}

fn invalid(err: &PolicyError) -> anyhow::Error {
    let lines: Vec<String> = err.problems.iter().map(|p| format!("error: {p}")).collect();
    exit::Exit::new(
        exit::INVALID,
        format!("invalid policy\n{}", lines.join("\n")),
    )
    .into()
}

fn show(args: &ShowArgs) -> anyhow::Result<u8> {
    // `FILE` and `--default` exclude each other (clap); neither means the default.
    let policy = load(args.file.as_deref())?;
    let text = if args.json {
        policy.to_json()
    } else {
        policy.to_yaml()
    }
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(exit::SUCCESS)
}

fn explain(args: &ExplainArgs) -> anyhow::Result<u8> {
    let policy = load(if args.default {
        None
    } else {
        args.file.as_deref()
    })?;
    let compiled = CompiledPolicy::compile(&policy).map_err(|err| invalid(&err))?;
    let connect = compiled.decide_connect(&args.host, args.port, args.binary.as_deref());
    let request = match (&args.method, &args.path, connect.endpoint) {
        (Some(method), Some(path), Some(id)) => {
            Some(compiled.decide_request(id, method, path, args.query.as_deref()))
        }
        _ => None,
    };
    if args.json {
        let value = explain_json(&compiled, args, &connect, request.as_ref());
        println!(
            "{}",
            serde_json::to_string_pretty(&value).context("cannot print JSON")?
        );
    } else {
        print!(
            "{}",
            explain_text(&compiled, args, &connect, request.as_ref())
        );
    }
    Ok(exit::SUCCESS)
}

/// The verdict of the whole exchange: a denied request denies, an audit passes.
fn overall(connect: &ConnectDecision<'_>, request: Option<&RequestDecision<'_>>) -> Verdict {
    match (connect.verdict, request) {
        (Verdict::Allow, Some(request)) => request.verdict,
        (verdict, _) => verdict,
    }
}

fn explain_text(
    compiled: &CompiledPolicy,
    args: &ExplainArgs,
    connect: &ConnectDecision<'_>,
    request: Option<&RequestDecision<'_>>,
) -> String {
    let binary = args.binary.as_deref().unwrap_or("(unknown binary)");
    let mut out = format!(
        "decision: {}\nconnect:  {}:{} from {binary} -> {}",
        overall(connect, request).as_str(),
        args.host,
        args.port,
        connect.verdict.as_str()
    );
    match connect.endpoint {
        Some(id) => {
            let ep = compiled.endpoint(id);
            out.push_str(&format!(
                "\n  entry:    network_policies.{}.endpoints[{}] (host {}, ports {:?}, {})",
                ep.entry,
                ep.index,
                ep.host,
                ep.ports,
                protocol_label(ep.protocol, ep.inspect),
            ));
        }
        None => {
            out.push_str(&format!("\n  reason:   {}", connect.reason));
            if let Some(entry) = connect.entry {
                out.push_str(&format!(
                    "\n  near:     network_policies.{entry} matches host and port"
                ));
            }
        }
    }
    match (request, &args.method, &args.path) {
        (Some(request), Some(method), Some(path)) => {
            let ep = compiled.endpoint(request.endpoint);
            let query = args
                .query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "\nrequest:  {method} {path}{query} -> {}\n  rule:     {}\n  reason:   {}\n  enforcement: {}",
                request.verdict.as_str(),
                request.rule.map_or_else(
                    || "(none)".to_owned(),
                    |rule| format!("network_policies.{}.endpoints[{}].{rule}", ep.entry, ep.index)
                ),
                request.reason,
                match ep.enforcement {
                    cordon_policy::Enforcement::Enforce => "enforce",
                    cordon_policy::Enforcement::Audit => "audit",
                },
            ));
        }
        (None, Some(_), Some(_)) => {
            out.push_str("\nrequest:  not evaluated (the connection is denied)");
        }
        _ => {}
    }
    if suggest(args, connect) {
        out.push_str("\nto allow this connection, add:\n");
        out.push_str(&cordon_policy::suggest_entry(
            &args.host,
            args.port,
            args.binary.as_deref(),
        ));
    } else {
        out.push('\n');
    }
    out
}

/// Whether a denied connection gets a suggested entry: only when one could be valid
/// (a real host, a port from 1, an absolute binary path), never a policy that would not load.
fn suggest(args: &ExplainArgs, connect: &ConnectDecision<'_>) -> bool {
    connect.verdict == Verdict::Deny
        && connect.reason != DenyReason::InvalidHost
        && args.port != 0
        && args.binary.as_deref().is_none_or(|b| b.starts_with('/'))
}

fn protocol_label(protocol: Option<cordon_policy::Protocol>, inspect: bool) -> String {
    match protocol {
        None => "L4 passthrough".to_owned(),
        Some(p) => {
            let name = serde_json::to_value(p)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if inspect {
                format!("protocol {name}, inspected")
            } else {
                format!("protocol {name}, not inspected")
            }
        }
    }
}

fn explain_json(
    compiled: &CompiledPolicy,
    args: &ExplainArgs,
    connect: &ConnectDecision<'_>,
    request: Option<&RequestDecision<'_>>,
) -> serde_json::Value {
    let endpoint = connect.endpoint.map(|id| {
        let ep = compiled.endpoint(id);
        json!({
            "entry": ep.entry,
            "index": ep.index,
            "host": ep.host,
            "ports": ep.ports,
            "protocol": ep.protocol,
            "inspect": ep.inspect,
            "enforcement": ep.enforcement,
        })
    });
    let decision = overall(connect, request);
    let request = request.map(|r| {
        let ep = compiled.endpoint(r.endpoint);
        json!({
            "verdict": r.verdict.as_str(),
            "rule": r.rule,
            "reason": r.reason,
            "entry": ep.entry,
            "endpoint_index": ep.index,
        })
    });
    json!({
        "decision": decision.as_str(),
        "connect": {
            "host": args.host,
            "port": args.port,
            "binary": args.binary,
            "verdict": connect.verdict.as_str(),
            "entry": connect.entry,
            "endpoint": endpoint,
            "reason": connect.reason.as_str(),
        },
        "request": request,
        "suggestion": suggest(args, connect).then(|| {
            cordon_policy::suggest_entry(&args.host, args.port, args.binary.as_deref())
        }),
    })
}
