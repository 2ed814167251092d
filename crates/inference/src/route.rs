//! [`Route`]: where `inference.local` requests go right now — a provider, an optional
//! forced model, and the sandbox's budgets — and [`RouteSetting`], how an operator
//! names one (`cordon inference set`, or the policy's `inference` section).
//!
//! Precedence when the supervisor builds the route (see [`resolve_route`]): the
//! policy's `inference` section (which `cordon inference set --sandbox` edits), then
//! the user's default setting. Budgets always come from the policy.

use serde::{Deserialize, Serialize};

use cordon_policy::InferencePolicy;
use cordon_secrets::ConfigDir;

use crate::budget::BudgetLimits;
use crate::{BaseUrl, InferenceError, ProviderRegistry, ResolvedProvider};

/// The file holding the user's default route.
pub const DEFAULT_ROUTE_FILE: &str = "inference.json";

/// The active route. Immutable: a change builds a new one and swaps it in.
#[derive(Debug, Clone)]
pub struct Route {
    provider: ResolvedProvider,
    base: BaseUrl,
    model: Option<String>,
    budget: BudgetLimits,
    generation: u64,
}

impl Route {
    /// A route to `provider`, forcing `model` when given. Refuses providers that cannot
    /// serve inference (`generic` credentials).
    pub fn new(
        provider: ResolvedProvider,
        model: Option<String>,
        budget: BudgetLimits,
    ) -> Result<Route, InferenceError> {
        if !provider.kind.routable() {
            return Err(InferenceError::NotRoutable(provider.name));
        }
        let base = provider
            .base
            .clone()
            .ok_or_else(|| InferenceError::NotRoutable(provider.name.clone()))?;
        Ok(Route {
            provider,
            base,
            model,
            budget,
            generation: 0,
        })
    }

    /// Tags the route with the policy generation it came from (shown in audit lines).
    pub fn with_generation(mut self, generation: u64) -> Route {
        self.generation = generation;
        self
    }

    /// The provider.
    pub fn provider(&self) -> &ResolvedProvider {
        &self.provider
    }

    /// Where requests go.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// The model forced on requests, if any.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The budgets.
    pub fn budget(&self) -> &BudgetLimits {
        &self.budget
    }

    /// Policy generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// A provider and model as an operator chose them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSetting {
    /// Provider name.
    pub provider: String,
    /// Model forced on requests (`None`: the caller's model is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl RouteSetting {
    /// The user's default route, if one was set.
    pub fn load_default(dir: &ConfigDir) -> Result<Option<RouteSetting>, InferenceError> {
        let Some(text) = dir.read_private(DEFAULT_ROUTE_FILE)? else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            cordon_secrets::SecretsError::Corrupt {
                path: dir.file(DEFAULT_ROUTE_FILE),
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// Saves this as the user's default route.
    pub fn save_default(&self, dir: &ConfigDir) -> Result<(), InferenceError> {
        let mut text =
            serde_json::to_vec_pretty(self).map_err(|e| cordon_secrets::SecretsError::Corrupt {
                path: dir.file(DEFAULT_ROUTE_FILE),
                reason: e.to_string(),
            })?;
        text.push(b'\n');
        Ok(dir.write_private(DEFAULT_ROUTE_FILE, &text)?)
    }

    /// Removes the user's default route; `false` when none was set.
    pub fn clear_default(dir: &ConfigDir) -> Result<bool, InferenceError> {
        let path = dir.file(DEFAULT_ROUTE_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(cordon_secrets::SecretsError::Io {
                action: "removing",
                path,
                source: e,
            }
            .into()),
        }
    }
}

/// Builds the route a sandbox should use now: the policy's provider/model, else the
/// user's `default`. `Ok(None)`: no route configured (requests get 503).
pub fn resolve_route(
    policy: Option<&InferencePolicy>,
    default: Option<&RouteSetting>,
    registry: &ProviderRegistry,
) -> Result<Option<Route>, InferenceError> {
    let budget = policy.map(BudgetLimits::from).unwrap_or_default();
    let from_policy = policy.and_then(|p| {
        p.provider.as_ref().map(|provider| RouteSetting {
            provider: provider.clone(),
            model: p.model.clone(),
        })
    });
    let Some(setting) = from_policy.as_ref().or(default) else {
        return Ok(None);
    };
    let provider = registry.resolve(&setting.provider)?;
    Route::new(provider, setting.model.clone(), budget).map(Some)
}

/// The route for `policy` now: [`resolve_route`] with the user's default read fresh
/// from the registry's directory (so `cordon inference set` without `--sandbox` takes
/// effect at a sandbox's next reload).
pub fn current_route(
    policy: Option<&InferencePolicy>,
    registry: &ProviderRegistry,
) -> Result<Option<Route>, InferenceError> {
    let default = RouteSetting::load_default(registry.dir())?;
    resolve_route(policy, default.as_ref(), registry)
}

#[cfg(test)]
mod tests {
    use cordon_secrets::SecretValue;

    use super::*;
    use crate::{NewProvider, ProviderKind};

    #[test]
    fn precedence_policy_then_default() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::at(tmp.path());
        let reg = ProviderRegistry::new(dir.clone());
        for name in ["b", "c"] {
            reg.create(
                NewProvider {
                    name: name.into(),
                    kind: ProviderKind::OpenAi,
                    base_url: None,
                    key: Some(SecretValue::new("k".into()).unwrap()),
                },
                false,
                0,
            )
            .unwrap();
        }
        let setting = |p: &str| RouteSetting {
            provider: p.into(),
            model: Some(format!("m-{p}")),
        };
        let policy = InferencePolicy {
            provider: Some("b".into()),
            model: Some("m-b".into()),
            max_requests_per_minute: Some(5),
            max_tokens_per_hour: None,
        };
        let route = resolve_route(Some(&policy), Some(&setting("c")), &reg)
            .unwrap()
            .unwrap();
        assert_eq!(
            (route.provider().name.as_str(), route.model()),
            ("b", Some("m-b"))
        );
        assert_eq!(route.budget().max_requests_per_minute, Some(5));
        // Budgets without a provider in the policy: the default route, the budgets.
        let budget_only = InferencePolicy {
            provider: None,
            model: None,
            ..policy.clone()
        };
        let route = resolve_route(Some(&budget_only), Some(&setting("c")), &reg)
            .unwrap()
            .unwrap();
        assert_eq!(
            (route.provider().name.as_str(), route.model()),
            ("c", Some("m-c"))
        );
        assert_eq!(route.budget().max_requests_per_minute, Some(5));
        assert!(resolve_route(None, None, &reg).unwrap().is_none());
        assert!(resolve_route(None, Some(&setting("zz")), &reg).is_err());

        setting("c").save_default(&dir).unwrap();
        assert_eq!(
            RouteSetting::load_default(&dir).unwrap(),
            Some(setting("c"))
        );
        assert!(RouteSetting::clear_default(&dir).unwrap());
        assert!(RouteSetting::load_default(&dir).unwrap().is_none());
    }
}
