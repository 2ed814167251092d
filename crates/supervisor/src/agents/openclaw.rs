//! OpenClaw's configuration, `$HOME/.openclaw/openclaw.json` (JSON5; plain JSON is
//! valid JSON5), and the variables its processes get.
//!
//! The configuration names one model provider, `cordon`, pointed at `inference.local`
//! with the placeholder key: the route replaces the key with the operator's and
//! forwards to the provider `cordon inference` chose, so neither the real key nor the
//! real endpoint is in the sandbox, and re-routing the sandbox later needs no change
//! here. `models.mode: replace` keeps OpenClaw from merging its built-in catalogue of
//! providers in. The gateway (the profile's command) refuses to start without
//! `gateway.mode`; it listens on loopback inside the sandbox with token auth, the
//! token coming from the environment, not from this file. The file is mounted
//! read-only, and the profile's `OPENCLAW_CONFIG_READONLY` makes OpenClaw's own
//! commands (`config set`, `onboard`, plugin installs) say so instead of failing on
//! EROFS. Format and variables as verified against OpenClaw 2026.9.6 by the OpenClaw
//! work of issue 10 (see docs/openclaw.md).

use cordon_policy::catalog::{INFERENCE_PLACEHOLDER_KEY, Profile};
use serde_json::json;

use super::ModelRoute;

/// The provider id inside OpenClaw's configuration (a label: the route decides).
const PROVIDER_ID: &str = "cordon";

/// The gateway's port, as in the profile's command.
const GATEWAY_PORT: u16 = 18789;

/// The configuration selecting `model` through the route.
pub(super) fn config(profile: &Profile, model: &ModelRoute) -> String {
    let id = model.model.as_str();
    let fake_ip = json!({
        "allowRfc2544BenchmarkRange": true,
        "allowIpv6UniqueLocalRange": true,
    });
    let value = json!({
        "models": {
            "mode": "replace",
            // The catalogue refresh fetches catalog.openclaw.ai at every gateway start;
            // the route fixes the model, so the catalogue has nothing to add.
            "catalogRefresh": { "enabled": false },
            "providers": {
                PROVIDER_ID: {
                    "baseUrl": profile.inference.base_url,
                    "apiKey": INFERENCE_PLACEHOLDER_KEY,
                    "api": profile.inference.api.as_str(),
                    "models": [{ "id": id, "name": id }],
                },
            },
        },
        "agents": {
            "defaults": {
                "model": { "primary": format!("{PROVIDER_ID}/{id}") },
            },
        },
        // Inside the sandbox every name resolves to a synthetic address that the
        // proxy maps back (198.18.0.0/15, fd63:6f72:646f:6e00::/96), which OpenClaw's
        // own SSRF guard refuses unless told it runs behind such a fake-IP resolver.
        // cordon's egress layer re-resolves the real name and applies its own SSRF
        // rules, so these switches hand the check to it; they open no private network.
        "tools": { "web": { "fetch": { "ssrfPolicy": fake_ip.clone() } } },
        "browser": { "ssrfPolicy": fake_ip },
        "gateway": {
            "mode": "local",
            "bind": "loopback",
            "port": GATEWAY_PORT,
            "auth": { "mode": "token" },
        },
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Variables for every OpenClaw process in the sandbox (the gateway and the shells of
/// `cordon connect`, which share the gateway token so `openclaw tui` can attach), on
/// top of the profile's static ones (`OPENCLAW_CONFIG_READONLY`, no auto-update).
/// `token` is random per sandbox; it only opens the gateway inside the sandbox.
pub(super) fn env(token: &str) -> Vec<(String, String)> {
    [
        // No mDNS advertising of the gateway, no downloads of pinned helper binaries.
        ("OPENCLAW_DISABLE_BONJOUR", "1"),
        ("OPENCLAW_OFFLINE", "1"),
        ("OPENCLAW_GATEWAY_TOKEN", token),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn points_the_provider_at_the_route_with_the_placeholder_key() {
        let profile = cordon_policy::catalog::profile("openclaw").unwrap();
        let text = config(
            profile,
            &ModelRoute {
                provider: "work".into(),
                model: "gpt-4o-mini".into(),
            },
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let provider = &value["models"]["providers"]["cordon"];
        assert_eq!(provider["baseUrl"], "http://inference.local/v1");
        assert_eq!(provider["apiKey"], INFERENCE_PLACEHOLDER_KEY);
        assert_eq!(provider["api"], "openai-completions");
        assert_eq!(provider["models"][0]["id"], "gpt-4o-mini");
        assert_eq!(
            value["agents"]["defaults"]["model"]["primary"],
            "cordon/gpt-4o-mini"
        );
        assert_eq!(value["models"]["mode"], "replace");
        assert_eq!(value["gateway"]["mode"], "local");
        assert_eq!(value["models"]["catalogRefresh"]["enabled"], false);
        for tool in [&value["tools"]["web"]["fetch"], &value["browser"]] {
            assert_eq!(tool["ssrfPolicy"]["allowRfc2544BenchmarkRange"], true);
            assert_eq!(tool["ssrfPolicy"]["allowIpv6UniqueLocalRange"], true);
        }
    }
}
