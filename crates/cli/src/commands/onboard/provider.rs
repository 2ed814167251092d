//! The inference provider of `cordon onboard`: an existing one, or a new one created
//! from `--provider-type` (key from `--key-env`) or from answers (key from an
//! environment variable, or typed at a prompt that never echoes it). The key goes
//! straight into cordon's credential store; only its fingerprint is ever shown.

use cordon_inference::{InferenceError, NewProvider, ProviderKind, ProviderRegistry};
use cordon_secrets::SecretValue;

use super::{OnboardArgs, ask, missing};
use crate::commands::provider::fail;
use crate::exit;

/// The provider the sandbox's route will name.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    /// Created by this onboarding (for the summary).
    pub created: bool,
}

/// How a new provider's key is obtained.
pub(crate) enum KeySource {
    Env(String),
    Typed(String),
    None,
}

/// Picks or creates the provider as `args` and (when `interactive`) the operator say.
pub(crate) fn choose(
    args: &OnboardArgs,
    interactive: bool,
    registry: &ProviderRegistry,
) -> anyhow::Result<Chosen> {
    if let Some(name) = &args.provider {
        match registry.get(name) {
            Ok(record) if args.provider_type.is_none() => {
                if !record.kind.routable() {
                    return Err(exit::Exit::new(
                        exit::INVALID,
                        format!(
                            "provider {name} is a generic credential, not an inference provider"
                        ),
                    )
                    .into());
                }
                return Ok(Chosen {
                    name: record.name,
                    kind: record.kind,
                    base_url: record.base_url,
                    created: false,
                });
            }
            // A re-run of the same script: the stored provider (and key) is kept.
            Ok(record)
                if record.kind.routable()
                    && args.provider_type.as_deref() == Some(record.kind.as_str()) =>
            {
                eprintln!("provider {name} exists already; using it (its key is unchanged)");
                return Ok(Chosen {
                    name: record.name,
                    kind: record.kind,
                    base_url: record.base_url,
                    created: false,
                });
            }
            Ok(record) => {
                return Err(exit::Exit::new(
                    exit::INVALID,
                    format!(
                        "provider {name} exists already with type {}: drop --provider-type to use it, or remove it first (`cordon provider rm {name}`)",
                        record.kind
                    ),
                )
                .into());
            }
            Err(InferenceError::UnknownProvider(_)) => {}
            Err(err) => return Err(fail(err)),
        }
        let kind = match &args.provider_type {
            Some(text) => parse_kind(text)?,
            None if interactive => ask::provider_kind()?,
            None => {
                return Err(exit::Exit::new(
                    exit::INVALID,
                    format!(
                        "provider {name} does not exist: create it here with --provider-type TYPE --key-env VAR, or with `cordon provider create`"
                    ),
                )
                .into());
            }
        };
        let base_url = match &args.base_url {
            Some(url) => Some(url.clone()),
            None if interactive && args.provider_type.is_none() => ask::base_url(kind)?,
            None => None,
        };
        let key = match (&args.key_env, args.no_key) {
            (Some(var), _) => KeySource::Env(var.clone()),
            (None, true) => KeySource::None,
            (None, false) if interactive && args.provider_type.is_none() => ask::key(kind)?,
            (None, false) if kind.key_optional() => KeySource::None,
            (None, false) => {
                return Err(missing(
                    "--key-env VAR",
                    &format!("the key of the new {kind} provider {name}"),
                ));
            }
        };
        return create(registry, name, kind, base_url, key);
    }
    if !interactive {
        return Err(missing("--provider NAME", "the inference provider"));
    }
    let existing: Vec<_> = registry
        .list()
        .map_err(fail)?
        .into_iter()
        .filter(|r| r.kind.routable())
        .collect();
    match ask::existing_provider(&existing)? {
        Some(record) => Ok(Chosen {
            name: record.name,
            kind: record.kind,
            base_url: record.base_url,
            created: false,
        }),
        None => {
            let kind = ask::provider_kind()?;
            let name = ask::provider_name(registry, kind)?;
            let base_url = ask::base_url(kind)?;
            let key = ask::key(kind)?;
            create(registry, &name, kind, base_url, key)
        }
    }
}

fn parse_kind(text: &str) -> anyhow::Result<ProviderKind> {
    text.parse::<ProviderKind>()
        .ok()
        .filter(|k| k.routable())
        .ok_or_else(|| {
            let known: Vec<_> = ProviderKind::ALL
                .iter()
                .filter(|k| k.routable())
                .map(|k| k.as_str())
                .collect();
            exit::Exit::new(
                exit::INVALID,
                format!(
                    "unknown provider type `{text}` (one of: {})",
                    known.join(", ")
                ),
            )
            .into()
        })
}

fn create(
    registry: &ProviderRegistry,
    name: &str,
    kind: ProviderKind,
    base_url: Option<String>,
    key: KeySource,
) -> anyhow::Result<Chosen> {
    let invalid = |msg: String| exit::Exit::new(exit::INVALID, msg);
    let raw = match key {
        KeySource::Env(var) => Some(std::env::var(&var).map_err(|_| {
            invalid(format!(
                "environment variable {var} is not set (or not UTF-8)"
            ))
        })?),
        KeySource::Typed(text) => Some(text),
        KeySource::None => None,
    };
    let key = raw
        .map(SecretValue::new)
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let record = registry
        .create(
            NewProvider {
                name: name.to_owned(),
                kind,
                base_url,
                key,
            },
            false,
            now,
        )
        .map_err(fail)?;
    eprintln!(
        "created provider {} (type {}, key {})",
        record.name,
        record.kind,
        record
            .key_fingerprint
            .as_ref()
            .map_or("none", |f| f.as_str())
    );
    Ok(Chosen {
        name: record.name,
        kind: record.kind,
        base_url: record.base_url,
        created: true,
    })
}
