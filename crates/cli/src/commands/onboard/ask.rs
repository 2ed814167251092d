//! The questions of `cordon onboard`, as arrow-key prompts (`inquire` on crossterm,
//! drawn on stderr so stdout carries only the summary). Colours follow the same rule
//! as the rest of the CLI: only on a terminal, never with `NO_COLOR`. Esc or Ctrl-C
//! cancels the whole onboarding (exit 130) before anything is created.

use std::fmt;

use cordon_inference::{ProviderKind, ProviderRecord, ProviderRegistry};
use cordon_policy::catalog::{self, Profile};
use cordon_supervisor::state::{StateRoot, valid_sandbox_name};
use inquire::error::InquireError;
use inquire::ui::RenderConfig;
use inquire::validator::Validation;
use inquire::{MultiSelect, Password, PasswordDisplayMode, Select, Text};

use super::provider::{Chosen, KeySource};
use crate::exit;

/// Exit code of a cancelled onboarding (as for SIGINT: 128 + 2).
const CANCELLED: u8 = 130;

/// One option of a list: a name and its one-line description, cut to the terminal's
/// width (a wrapped option would break the list's layout at 80 columns).
struct Item {
    name: &'static str,
    description: String,
}

impl Item {
    fn new(name: &'static str, description: &str) -> Item {
        let width = crossterm::terminal::size().map_or(80, |(w, _)| usize::from(w));
        // "> " or "> [x] " and the 12-column name before it.
        let room = width.saturating_sub(22).max(10);
        let description = if description.chars().count() > room {
            let cut: String = description.chars().take(room - 1).collect();
            format!("{cut}…")
        } else {
            description.to_owned()
        };
        Item { name, description }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<12} {}", self.name, self.description)
    }
}

/// Maps prompt errors: cancelled (Esc, Ctrl-C) = 130, anything else is cordon's.
fn answer<T>(result: Result<T, InquireError>) -> anyhow::Result<T> {
    result.map_err(|err| match err {
        InquireError::OperationCanceled | InquireError::OperationInterrupted => {
            exit::Exit::new(CANCELLED, "onboarding cancelled; nothing was created").into()
        }
        other => exit::Exit::new(exit::CORDON_FAILED, format!("prompt failed: {other}")).into(),
    })
}

/// The intro line; also sets the prompts' colours once.
pub(super) fn banner() {
    if !crate::color::enabled(true) {
        inquire::set_global_render_config(RenderConfig::empty());
    }
    eprintln!(
        "cordon onboard: a contained agent in a few questions (arrows and Enter to choose, Esc to cancel)"
    );
}

pub(super) fn agent() -> anyhow::Result<&'static Profile> {
    let items: Vec<Item> = catalog::profiles()
        .iter()
        .map(|p| Item::new(p.name, p.description))
        .collect();
    let picked = answer(
        Select::new("Agent profile:", items)
            .with_page_size(8)
            .with_formatter(&|o| o.value.name.to_owned())
            .prompt(),
    )?;
    crate::commands::profile::lookup(picked.name)
}

/// `None` = create a new one.
pub(super) fn existing_provider(
    existing: &[ProviderRecord],
) -> anyhow::Result<Option<ProviderRecord>> {
    if existing.is_empty() {
        eprintln!("No inference provider stored yet: let's add one.");
        return Ok(None);
    }
    const NEW: &str = "+ a new provider";
    let mut options: Vec<String> = existing
        .iter()
        .map(|r| {
            format!(
                "{:<16} {} {}",
                r.name,
                r.kind,
                r.base_url.as_deref().unwrap_or("")
            )
        })
        .collect();
    options.push(NEW.to_owned());
    let picked = answer(
        Select::new(
            "Inference provider (inference.local routes to it):",
            options,
        )
        .raw_prompt(),
    )?;
    Ok(existing.get(picked.index).cloned())
}

pub(super) fn provider_kind() -> anyhow::Result<ProviderKind> {
    let kinds: Vec<ProviderKind> = ProviderKind::ALL
        .into_iter()
        .filter(|k| k.routable())
        .collect();
    answer(Select::new("Provider type:", kinds).prompt())
}

pub(super) fn provider_name(
    registry: &ProviderRegistry,
    kind: ProviderKind,
) -> anyhow::Result<String> {
    let taken: Vec<String> = registry
        .list()
        .map(|l| l.into_iter().map(|r| r.name).collect())
        .unwrap_or_default();
    let default = kind.as_str().to_owned();
    answer(
        Text::new("Provider name:")
            .with_default(&default)
            .with_validator(move |text: &str| {
                Ok(if taken.iter().any(|t| t == text) {
                    Validation::Invalid("a provider of that name exists already".into())
                } else if text.is_empty() {
                    Validation::Invalid("a name is needed".into())
                } else {
                    Validation::Valid
                })
            })
            .prompt(),
    )
}

pub(super) fn base_url(kind: ProviderKind) -> anyhow::Result<Option<String>> {
    let mut prompt = Text::new("API base URL:");
    let default = kind.default_base_url();
    if let Some(url) = default {
        prompt = prompt.with_default(url);
    } else {
        prompt = prompt.with_validator(|text: &str| {
            Ok(if text.is_empty() {
                Validation::Invalid("this provider type needs a URL".into())
            } else {
                Validation::Valid
            })
        });
    }
    let url = answer(prompt.prompt())?;
    Ok((Some(url.as_str()) != default && !url.is_empty()).then_some(url))
}

/// The usual variable holding a key of `kind`.
fn usual_variable(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
        ProviderKind::Nvidia => "NVIDIA_API_KEY",
        _ => "OPENAI_API_KEY",
    }
}

pub(super) fn key(kind: ProviderKind) -> anyhow::Result<KeySource> {
    const ENV: &str = "read it from an environment variable";
    const TYPED: &str = "type it (input hidden)";
    const NONE: &str = "no key";
    let mut options = vec![ENV, TYPED];
    if kind.key_optional() {
        options.push(NONE);
    }
    let usual = usual_variable(kind);
    let start = usize::from(std::env::var_os(usual).is_none() && !kind.key_optional());
    let picked = answer(
        Select::new(
            "API key (stored 0600 on this host, never in the sandbox):",
            options,
        )
        .with_starting_cursor(start)
        .prompt(),
    )?;
    Ok(match picked {
        ENV => KeySource::Env(answer(
            Text::new("Environment variable:")
                .with_default(usual)
                .with_validator(|text: &str| {
                    Ok(if std::env::var_os(text).is_some() {
                        Validation::Valid
                    } else {
                        Validation::Invalid(format!("{text} is not set").into())
                    })
                })
                .prompt(),
        )?),
        TYPED => KeySource::Typed(answer(
            Password::new("API key:")
                .with_display_mode(PasswordDisplayMode::Hidden)
                .without_confirmation()
                .prompt(),
        )?),
        _ => KeySource::None,
    })
}

/// `None`: no model forced (only when the agent does not need one named).
pub(super) fn model(provider: &Chosen, required: bool) -> anyhow::Result<Option<String>> {
    let help = if required {
        "the agent's configuration names it"
    } else {
        "empty: keep the model the agent asks for"
    };
    let text = answer(
        Text::new(&format!("Model at {}:", provider.name))
            .with_help_message(help)
            .with_validator(move |text: &str| {
                Ok(if required && text.trim().is_empty() {
                    Validation::Invalid("a model is needed".into())
                } else {
                    Validation::Valid
                })
            })
            .prompt(),
    )?;
    let text = text.trim().to_owned();
    Ok((!text.is_empty()).then_some(text))
}

pub(super) fn presets() -> anyhow::Result<Vec<String>> {
    let items: Vec<Item> = catalog::presets()
        .iter()
        .map(|p| Item::new(p.name, p.description))
        .collect();
    let picked = answer(
        MultiSelect::new(
            "Presets (space toggles, Enter confirms; none is fine):",
            items,
        )
        .with_page_size(10)
        .with_formatter(&|chosen| {
            let names: Vec<&str> = chosen.iter().map(|o| o.value.name).collect();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        })
        .prompt(),
    )?;
    Ok(picked.into_iter().map(|i| i.name.to_owned()).collect())
}

pub(super) fn name(root: &StateRoot, agent: &str) -> anyhow::Result<String> {
    let taken = |name: &str| root.path().join("sandboxes").join(name).exists();
    let mut default = format!("my-{agent}");
    let mut n = 2;
    while taken(&default) {
        default = format!("my-{agent}-{n}");
        n += 1;
    }
    let root_path = root.path().to_path_buf();
    answer(
        Text::new("Sandbox name:")
            .with_default(&default)
            .with_validator(move |text: &str| {
                Ok(if !valid_sandbox_name(text) {
                    Validation::Invalid("use [a-z0-9][a-z0-9_.-], up to 63 characters".into())
                } else if root_path.join("sandboxes").join(text).exists() {
                    Validation::Invalid("a sandbox of that name exists".into())
                } else {
                    Validation::Valid
                })
            })
            .prompt(),
    )
}
