//! `cordon onboard`: from nothing to a contained agent in a few questions.
//!
//! It picks the agent profile, the inference provider (an existing one, or a new one
//! whose key comes from an environment variable or a prompt that hides it) and model,
//! the presets and the sandbox name; then creates the sandbox from the profile (the
//! same path as `cordon create NAME --agent ...`, which writes the policy with the
//! presets and the route in it) and prints what runs where and how to reach it.
//!
//! Every question is also a flag, and a flag given is never asked. With
//! `--non-interactive` nothing is asked: a missing required flag is an error naming it.
//! Without a terminal and without `--non-interactive` it refuses rather than guess.
//! Exit codes: 0 created; 1 invalid input (unknown profile, preset or provider type,
//! bad name, missing key); 125 missing flags or no terminal (usage), or cordon
//! failed; 127 the agent is not installed (the message names the install command);
//! 130 cancelled at a prompt.

mod ask;
mod provider;
mod summary;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use cordon_inference::{ProviderRegistry, RouteSetting};
use cordon_policy::catalog;
use cordon_secrets::ConfigDir;
use cordon_supervisor::SupervisorError;
use cordon_supervisor::agents::{AgentOptions, ModelRoute, RouteChoice};
use cordon_supervisor::lifecycle::{self, CreateOptions, DEFAULT_LOG_MAX_BYTES, Started};
use cordon_supervisor::state::StateRoot;

use crate::commands::create::Restart;
use crate::commands::provider::config_dir;
use crate::commands::run::fail;
use crate::exit;

#[derive(Debug, Args)]
pub struct OnboardArgs {
    /// Ask nothing: every choice comes from flags (--agent, --provider, --name are
    /// required; --model too for agents configured through a file, like openclaw).
    #[arg(long)]
    pub non_interactive: bool,
    /// Agent profile (`cordon profile list`).
    #[arg(long, value_name = "PROFILE")]
    pub agent: Option<String>,
    /// The agent's program (default: the profile's command on PATH).
    #[arg(long, value_name = "PATH")]
    pub agent_bin: Option<PathBuf>,
    /// Inference provider: an existing one, or a new one with --provider-type.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Create --provider with this type (openai, anthropic, nvidia, ollama,
    /// openai-compatible).
    #[arg(long = "provider-type", value_name = "TYPE", requires = "provider")]
    pub provider_type: Option<String>,
    /// The new provider's API root (default per type).
    #[arg(long, value_name = "URL", requires = "provider_type")]
    pub base_url: Option<String>,
    /// Read the new provider's key from this environment variable.
    #[arg(long, value_name = "VAR", requires = "provider_type")]
    pub key_env: Option<String>,
    /// The new provider needs no key (ollama, openai-compatible).
    #[arg(long, requires = "provider_type", conflicts_with = "key_env")]
    pub no_key: bool,
    /// The model.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Network preset to add (repeatable; `cordon preset list`).
    #[arg(long = "preset", value_name = "PRESET")]
    pub presets: Vec<String>,
    /// Add no presets (skips the question).
    #[arg(long, conflicts_with = "presets")]
    pub no_presets: bool,
    /// Sandbox name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Host directory to bind at /sandbox (default: the sandbox's own).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Restart policy of the agent.
    #[arg(long, value_enum, default_value = "on-failure")]
    pub restart: Restart,
}

/// Everything chosen, flags and answers together.
#[derive(Debug)]
pub(crate) struct Choices {
    pub agent: &'static catalog::Profile,
    pub agent_bin: Option<PathBuf>,
    pub provider: provider::Chosen,
    pub model: Option<String>,
    pub presets: Vec<String>,
    pub name: String,
}

/// A required choice was not given in `--non-interactive` mode.
fn missing(flag: &str, what: &str) -> anyhow::Error {
    exit::Exit::new(
        exit::CORDON_FAILED,
        format!("--non-interactive: {what} is required: pass {flag}"),
    )
    .into()
}

pub fn execute(args: OnboardArgs) -> anyhow::Result<u8> {
    let interactive = !args.non_interactive;
    if interactive && !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(exit::Exit::new(
            exit::CORDON_FAILED,
            "cordon onboard asks its questions on a terminal, and there is none: run it in one, or pass --non-interactive with --agent, --provider, --model and --name",
        )
        .into());
    }
    if !interactive {
        check_flags(&args)?;
    }
    let root = StateRoot::for_current_user().map_err(fail)?;
    let registry = ProviderRegistry::new(config_dir()?);
    if interactive {
        ask::banner();
    }

    let agent = match &args.agent {
        Some(name) => crate::commands::profile::lookup(name)?,
        None if interactive => ask::agent()?,
        None => return Err(missing("--agent PROFILE", "the agent profile")),
    };
    // Fail before any other question when the agent is not installed.
    let program = agent.command.first().copied().unwrap_or("sh");
    let host_path = std::env::var_os("PATH");
    cordon_supervisor::agents::locate(
        program,
        args.agent_bin.as_deref(),
        host_path.as_deref(),
        cordon_supervisor::agents::install_hint(agent.name),
    )
    .map_err(fail)?;

    refuse_unusable_flags(&root, &args)?;
    let chosen = provider::choose(&args, interactive, &registry)?;
    let needs_model = cordon_supervisor::agents::needs_model(agent);
    let model = match &args.model {
        Some(model) => Some(model.clone()),
        None if interactive => ask::model(&chosen, needs_model)?,
        None if needs_model => match default_model(&chosen.name)? {
            Some(model) => Some(model),
            None => return Err(missing_model(agent.name)),
        },
        None => None,
    };
    let presets = if !args.presets.is_empty() || args.no_presets || !interactive {
        for name in &args.presets {
            crate::commands::preset::lookup(name)?;
        }
        args.presets.clone()
    } else {
        ask::presets()?
    };
    let name = match &args.name {
        Some(name) => name.clone(),
        None if interactive => ask::name(&root, agent.name)?,
        None => return Err(missing("--name NAME", "the sandbox name")),
    };
    let choices = Choices {
        agent,
        agent_bin: args.agent_bin.clone(),
        provider: chosen,
        model,
        presets,
        name,
    };
    let chosen_provider = choices.provider.name.clone();
    let route = RouteChoice {
        provider: chosen_provider.clone(),
        model: choices.model.clone(),
    };
    let options = CreateOptions {
        name: choices.name.clone(),
        policy_file: None,
        workdir: args.workdir.clone(),
        env: Vec::new(),
        restart: args.restart.into(),
        log_max_bytes: DEFAULT_LOG_MAX_BYTES,
        add_hosts: Vec::new(),
        secrets: Vec::new(),
        command: Vec::new(),
        agent: AgentOptions {
            profile: Some(agent.name.to_owned()),
            agent_bin: choices.agent_bin.clone(),
            presets: choices.presets.clone(),
            route: Some(route),
            agent_model: choices.model.clone().map(|model| ModelRoute {
                provider: chosen_provider,
                model,
            }),
        },
    };
    let spinner = crate::progress::Spinner::start(format!("creating sandbox {}", choices.name));
    let created = lifecycle::create(&root, options);
    spinner.finish();
    let (started, warnings) = created.map_err(fail)?;
    for warning in warnings {
        eprintln!("cordon: warning: {warning}");
    }
    summary::print(&root, &choices, started == Started::Running)?;
    Ok(exit::SUCCESS)
}

/// `--non-interactive`: every required flag is there, checked before anything is
/// created (a provider included), so a failed script leaves nothing behind.
fn check_flags(args: &OnboardArgs) -> anyhow::Result<()> {
    let agent = match &args.agent {
        Some(name) => crate::commands::profile::lookup(name)?,
        None => return Err(missing("--agent PROFILE", "the agent profile")),
    };
    if args.provider.is_none() {
        return Err(missing("--provider NAME", "the inference provider"));
    }
    if let (None, Some(provider)) = (&args.model, &args.provider)
        && cordon_supervisor::agents::needs_model(agent)
        && default_model(provider)?.is_none()
    {
        return Err(missing_model(agent.name));
    }
    if args.name.is_none() {
        return Err(missing("--name NAME", "the sandbox name"));
    }
    Ok(())
}

/// A `--preset` or `--name` given as a flag that `create` would refuse is refused before
/// a new provider is stored, so a failed script leaves nothing behind.
fn refuse_unusable_flags(root: &StateRoot, args: &OnboardArgs) -> anyhow::Result<()> {
    for name in &args.presets {
        crate::commands::preset::lookup(name)?;
    }
    if let Some(name) = &args.name {
        match root.sandbox(name) {
            Ok(_) => return Err(fail(SupervisorError::AlreadyExists(name.clone()))),
            Err(SupervisorError::NoSuchSandbox(_)) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    Ok(())
}

/// The model of the user's default route (`cordon inference set`) when it routes to
/// `provider`: what `--non-interactive` uses without `--model`, like `create --agent`.
/// A default route to another provider names a model of that provider, so it is not used.
/// Failing that, the provider type's suggested model (none for `openai-compatible`,
/// whose server alone knows what it serves).
fn default_model(provider: &str) -> anyhow::Result<Option<String>> {
    let dir = config_dir()?;
    let default = RouteSetting::load_default(&dir).map_err(crate::commands::provider::fail)?;
    match default
        .filter(|d| d.provider == provider)
        .and_then(|d| d.model)
    {
        Some(model) => Ok(Some(model)),
        None => suggested_model(&dir, provider),
    }
}

/// The suggested model of `provider`'s type (an unknown provider has none; the caller
/// reports it elsewhere).
fn suggested_model(dir: &ConfigDir, provider: &str) -> anyhow::Result<Option<String>> {
    Ok(ProviderRegistry::new(dir.clone())
        .resolve(provider)
        .ok()
        .and_then(|p| p.kind.suggested_model())
        .map(str::to_owned))
}

/// `--non-interactive` without `--model` for an agent whose configuration names one.
fn missing_model(agent: &str) -> anyhow::Error {
    missing(
        "--model MODEL (or set one for this provider with `cordon inference set --provider NAME --model MODEL`)",
        &format!("the model (the {agent} profile names it in its configuration)"),
    )
}

/// `cordon create`'s `--agent`, `--agent-bin`, `--preset`, `--provider`, `--model`
/// as the lifecycle takes them: the provider must exist and be routable; the model the
/// agent's own configuration names is `--model`, else the user's default route's.
pub(crate) fn agent_options(
    profile: Option<String>,
    agent_bin: Option<PathBuf>,
    presets: Vec<String>,
    provider: Option<String>,
    model: Option<String>,
) -> anyhow::Result<AgentOptions> {
    if profile.is_none() && presets.is_empty() && provider.is_none() {
        return Ok(AgentOptions::default());
    }
    let dir = config_dir()?;
    if let Some(name) = &provider {
        ProviderRegistry::new(dir.clone())
            .resolve(name)
            .map_err(crate::commands::provider::fail)?;
    }
    let default = if profile.is_some() {
        RouteSetting::load_default(&dir).map_err(crate::commands::provider::fail)?
    } else {
        None
    };
    let agent_model = match (&provider, &model) {
        (Some(p), Some(m)) => Some(ModelRoute {
            provider: p.clone(),
            model: m.clone(),
        }),
        _ => default.and_then(|d| {
            let provider = provider.clone().unwrap_or(d.provider.clone());
            let model = model.clone().or(d.model)?;
            Some(ModelRoute { provider, model })
        }),
    };
    let agent_model = match (agent_model, &provider) {
        (None, Some(p)) if profile.is_some() => suggested_model(&dir, p)?.map(|model| ModelRoute {
            provider: p.clone(),
            model,
        }),
        (chosen, _) => chosen,
    };
    Ok(AgentOptions {
        profile,
        agent_bin,
        presets,
        route: provider.map(|provider| RouteChoice { provider, model }),
        agent_model,
    })
}
