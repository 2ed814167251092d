//! `cordon status NAME [--json]`: every layer applied and how, the Landlock ABI, limits,
//! the proxy address, the CA fingerprint, the policy's source and generation, the
//! main process's state, and `inference.local`'s route with usage against budget.

use clap::Args;
use cordon_supervisor::lifecycle;
use cordon_supervisor::state::StateRoot;

use crate::commands::list::duration;
use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The sandbox.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn limit(value: Option<String>) -> String {
    value.unwrap_or_else(|| "unlimited".into())
}

/// `used / limit`, or `used (no limit)`.
fn against(used: u64, limit: Option<u64>) -> String {
    match limit {
        Some(limit) => format!("{used} / {limit}"),
        None => format!("{used} (no limit)"),
    }
}

pub fn execute(args: StatusArgs) -> anyhow::Result<u8> {
    let root = StateRoot::for_current_user().map_err(fail)?;
    let status = lifecycle::status(&root, &args.name).map_err(fail)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(exit::SUCCESS);
    }
    let s = &status.summary;
    println!("name:        {}", s.name);
    println!("state:       {}", s.state.as_str());
    if let Some(reason) = &s.reason {
        println!("reason:      {reason}");
    }
    println!("command:     {}", status.meta.command.join(" "));
    println!("workdir:     {}", status.meta.workdir.display());
    println!(
        "restart:     {} (restarts: {})",
        status.meta.restart.as_str(),
        s.restarts
    );
    if let Some(code) = s.exit_code {
        println!("last exit:   {code}");
    }
    match &status.live {
        None => println!(
            "policy:      {} (applied at the next start)",
            status.meta.policy_source
        ),
        Some(live) => {
            println!("uptime:      {}", duration(s.uptime_ms.unwrap_or(0)));
            println!("supervisor:  pid {}", live.supervisor_pid);
            println!("init:        pid {} (pid 1 inside)", live.init_pid);
            let main = live.main_process();
            match main.pid {
                Some(pid) => println!("main:        {}, pid {pid}", main.state.as_str()),
                None => println!("main:        {}", main.state.as_str()),
            }
            println!(
                "policy:      {} (generation {})",
                live.policy.source, live.policy.generation
            );
            println!(
                "proxy:       {} inside the sandbox; {} allowed, {} denied, {} audit-denied, {} reloads rejected, {} open connections",
                live.egress.proxy,
                live.egress.allowed,
                live.egress.denied,
                live.egress.audit_denied,
                live.egress.reloads_rejected,
                live.egress.active_connections
            );
            println!(
                "ca:          {}",
                live.ca_fingerprint
                    .clone()
                    .unwrap_or_else(|| "none (no TLS inspection configured)".into())
            );
            // `inference.local`: the route and usage against the policy's budgets.
            if let Some(info) = &live.inference {
                match &info.route {
                    Some(route) => println!(
                        "inference:   {} ({}) at {}{}",
                        route.provider,
                        route.kind,
                        route.base_url,
                        route
                            .model
                            .as_ref()
                            .map(|m| format!(", model {m}"))
                            .unwrap_or_default()
                    ),
                    None => match &info.problem {
                        Some(why) => println!("inference:   no route: {why}"),
                        None => {
                            println!("inference:   no route (requests to inference.local get 503)")
                        }
                    },
                }
                let usage = &info.usage;
                println!(
                    "  requests:  {} in the last minute",
                    against(
                        usage.requests_last_minute,
                        usage.limits.max_requests_per_minute
                    )
                );
                println!(
                    "  tokens:    {} in the last hour",
                    against(usage.tokens_last_hour, usage.limits.max_tokens_per_hour)
                );
                println!(
                    "  totals:    {} requests, {} refused by budget, {} tokens in, {} tokens out",
                    usage.requests_total,
                    usage.refused_total,
                    usage.tokens_in_total,
                    usage.tokens_out_total
                );
            }
            println!("landlock:    ABI {}", live.landlock_abi);
            println!(
                "limits:      memory {}, pids {}, cpu {}",
                limit(live.limits.memory_bytes.map(|b| format!("{b} bytes"))),
                limit(live.limits.pids.map(|p| p.to_string())),
                limit(live.limits.cpu.map(|c| c.to_string()))
            );
            println!("layers:");
            for layer in &live.layers {
                println!("  {layer}");
            }
            for warning in &live.warnings {
                println!("  warning: {warning}");
            }
        }
    }
    Ok(exit::SUCCESS)
}
