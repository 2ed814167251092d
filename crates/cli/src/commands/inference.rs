//! `cordon inference set|show|unset`: which provider and model `inference.local`
//! routes to.
//!
//! Without `--sandbox`, the user's default route (`inference.json` in the
//! configuration directory), used by sandboxes whose policy has no `inference`
//! section. With `--sandbox NAME`, the route is written into that sandbox's policy
//! (`inference.provider` / `inference.model`, budgets untouched) and applied through
//! the same hot-reload path as `cordon policy set --wait`: the route is part of the
//! sandbox's policy, so a later `policy set` with another file replaces it.

use clap::{Args, Subcommand};
use cordon_inference::{ProviderRegistry, Route, RouteSetting};
use cordon_policy::InferencePolicy;
use cordon_supervisor::lifecycle;
use cordon_supervisor::state::StateRoot;

use crate::commands::provider::{config_dir, fail};
use crate::commands::run::fail as fail_supervisor;
use crate::exit;

#[derive(Debug, Subcommand)]
pub enum InferenceCommand {
    /// Set the route: the user's default, or one sandbox's (hot-reloaded).
    Set(SetArgs),
    /// Show the route: the user's default, or one sandbox's.
    Show(ShowArgs),
    /// Remove the route: the user's default, or one sandbox's.
    Unset(UnsetArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// A named sandbox (default: the user's default route).
    #[arg(long, value_name = "NAME")]
    pub sandbox: Option<String>,
    /// A provider from `cordon provider list`.
    #[arg(long, value_name = "PROVIDER")]
    pub provider: String,
    /// Force this model on every request (default: keep the caller's).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A named sandbox (default: the user's default route).
    #[arg(long, value_name = "NAME")]
    pub sandbox: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// A named sandbox (default: the user's default route).
    #[arg(long, value_name = "NAME")]
    pub sandbox: Option<String>,
}

pub fn execute(cmd: InferenceCommand) -> anyhow::Result<u8> {
    let dir = config_dir()?;
    match cmd {
        InferenceCommand::Set(args) => {
            // An empty model would rewrite every request's `model` to "": refuse it.
            if args.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
                return Err(exit::Exit::new(
                    exit::INVALID,
                    "--model is empty: name a model, or leave --model out to keep the caller's",
                )
                .into());
            }
            let registry = ProviderRegistry::new(dir.clone());
            // Refuse unknown or non-routable providers before storing anything.
            let provider = registry.resolve(&args.provider).map_err(fail)?;
            let summary = format!(
                "provider {} ({}){}",
                provider.name,
                provider.kind,
                args.model
                    .as_deref()
                    .map(|m| format!(", model {m}"))
                    .unwrap_or_default()
            );
            Route::new(provider, args.model.clone(), Default::default()).map_err(fail)?;
            let setting = RouteSetting {
                provider: args.provider,
                model: args.model,
            };
            match args.sandbox {
                None => {
                    setting.save_default(&dir).map_err(fail)?;
                    println!("default inference route: {summary}");
                }
                Some(name) => {
                    let applied = match edit_sandbox_route(&name, Some(&setting))? {
                        Some(generation) => format!("policy generation {generation} in force"),
                        None => "stored; applied at the next start".to_owned(),
                    };
                    println!("{name}: inference route {summary} ({applied})");
                }
            }
            Ok(exit::SUCCESS)
        }
        InferenceCommand::Show(args) => {
            let setting = match &args.sandbox {
                None => RouteSetting::load_default(&dir).map_err(fail)?,
                Some(name) => sandbox_inference(name)?.and_then(|i| {
                    i.provider.map(|provider| RouteSetting {
                        provider,
                        model: i.model,
                    })
                }),
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&setting)?);
            } else {
                match setting {
                    Some(s) => println!(
                        "provider {}{}",
                        s.provider,
                        s.model.map(|m| format!(", model {m}")).unwrap_or_default()
                    ),
                    None => println!("no inference route"),
                }
            }
            Ok(exit::SUCCESS)
        }
        InferenceCommand::Unset(args) => {
            match args.sandbox {
                None => {
                    if !RouteSetting::clear_default(&dir).map_err(fail)? {
                        println!("no default inference route was set");
                    }
                }
                Some(name) => {
                    edit_sandbox_route(&name, None)?;
                }
            }
            Ok(exit::SUCCESS)
        }
    }
}

/// The sandbox policy's `inference` section.
fn sandbox_inference(name: &str) -> anyhow::Result<Option<InferencePolicy>> {
    let root = StateRoot::for_current_user().map_err(fail_supervisor)?;
    let yaml = lifecycle::policy_get(&root, name).map_err(fail_supervisor)?;
    let loaded = cordon_policy::parse_str(&yaml, name)
        .map_err(|e| exit::Exit::new(exit::CORDON_FAILED, e.to_string()))?;
    Ok(loaded.policy.inference)
}

/// Rewrites the sandbox policy's route (keeping its budgets) and applies it like
/// `policy set --wait`; returns the generation in force (`None`: the sandbox is stopped
/// and gets the policy at its next start).
fn edit_sandbox_route(name: &str, setting: Option<&RouteSetting>) -> anyhow::Result<Option<u64>> {
    let root = StateRoot::for_current_user().map_err(fail_supervisor)?;
    let yaml = lifecycle::policy_get(&root, name).map_err(fail_supervisor)?;
    let mut policy = cordon_policy::parse_str(&yaml, name)
        .map_err(|e| exit::Exit::new(exit::CORDON_FAILED, e.to_string()))?
        .policy;
    let mut inference = policy.inference.take().unwrap_or_default();
    inference.provider = setting.map(|s| s.provider.clone());
    inference.model = setting.and_then(|s| s.model.clone());
    let empty = inference == InferencePolicy::default();
    policy.inference = (!empty).then_some(inference);
    let text = policy
        .to_yaml()
        .map_err(|e| exit::Exit::new(exit::CORDON_FAILED, e.to_string()))?;
    let source = match setting {
        Some(setting) => format!("cordon inference set --provider {}", setting.provider),
        None => "cordon inference unset".to_owned(),
    };
    lifecycle::policy_set_text(&root, name, text, source, true).map_err(fail_supervisor)
}
