//! What each profile and preset claims, and the twins it must deny.

use cordon_policy::catalog;
use cordon_policy::{CompiledPolicy, DenyReason};

use super::{
    Answer, CURL, GIT_HTTP, NODE, PYTHON, answer, ask, claims, preset_policy, profile_policy,
};

#[test]
fn pypi_allows_package_downloads_only() {
    claims(
        "pypi",
        &preset_policy("pypi"),
        &[
            "allow   pypi.org  python  GET  /simple/requests/",
            "allow   pypi.org  /usr/local/bin/uv  GET  /pypi/requests/json",
            "allow   files.pythonhosted.org  /sandbox/.local/share/uv/python/cpython-3.12.8-linux-x86_64-gnu/bin/python3.12  GET  /packages/ab/cd/requests-2.32.3-py3-none-any.whl",
            "allow   files.pythonhosted.org  python  HEAD  /packages/x.whl",
            "binary  pypi.org  curl  GET  /simple/",
            "binary  files.pythonhosted.org  node  GET  /packages/x.whl",
            "host    upload.pypi.org  python  POST  /legacy/",
            "host    pypi.org.evil.example  python  GET  /simple/",
            "request pypi.org  python  POST  /legacy/",
            "request files.pythonhosted.org  python  PUT  /packages/x.whl",
        ],
    );
}

#[test]
fn npm_allows_installs_but_not_publish_or_audit() {
    claims(
        "npm",
        &preset_policy("npm"),
        &[
            "allow   registry.npmjs.org  node  GET  /express",
            "allow   registry.npmjs.org  npm-node  GET  /@types%2Fnode",
            "allow   registry.yarnpkg.com  /usr/local/bin/node  GET  /left-pad/-/left-pad-1.3.0.tgz",
            "binary  registry.npmjs.org  python  GET  /express",
            "binary  registry.npmjs.org  curl  GET  /express",
            "host    npm.evil.example  node  GET  /express",
            "request registry.npmjs.org  node  PUT  /my-package",
            "request registry.npmjs.org  node  POST  /-/npm/v1/security/advisories/bulk",
        ],
    );
}

#[test]
fn github_allows_clone_and_reads_but_not_push_or_writes() {
    claims(
        "github",
        &preset_policy("github"),
        &[
            "allow   github.com  git-http  GET  /o/r.git/info/refs?service=git-upload-pack",
            "allow   github.com  git-http  POST  /o/r.git/git-upload-pack",
            "allow   github.com  /usr/lib/git-core/git-remote-https  GET  /o/r",
            "allow   api.github.com  /usr/bin/gh  GET  /repos/o/r/issues",
            "allow   codeload.github.com  curl  GET  /o/r/tar.gz/refs/heads/main",
            "allow   raw.githubusercontent.com  curl  GET  /o/r/main/README.md",
            "allow   objects.githubusercontent.com  curl  GET  /github-production-release-asset/1",
            "binary  github.com  python  GET  /o/r",
            "binary  api.github.com  node  GET  /repos/o/r",
            "host    uploads.github.com  /usr/bin/gh  POST  /repos/o/r/releases/1/assets",
            "host    gist.github.com  curl  GET  /",
            "request github.com  git-http  GET  /o/r.git/info/refs?service=git-receive-pack",
            "request github.com  git-http  POST  /o/r.git/git-receive-pack",
            "request api.github.com  /usr/bin/gh  POST  /repos/o/r/issues",
            "request api.github.com  /usr/bin/gh  DELETE  /repos/o/r",
            "request api.github.com  /usr/bin/gh  POST  /graphql",
        ],
    );
}

#[test]
fn huggingface_allows_downloads_only() {
    claims(
        "huggingface",
        &preset_policy("huggingface"),
        &[
            "allow   huggingface.co  python  GET  /api/models/org/model",
            "allow   huggingface.co  python  HEAD  /org/model/resolve/main/config.json",
            "allow   cdn-lfs-us-1.huggingface.co  python  GET  /repos/ab/cd/file",
            "allow   cas-bridge.xethub.hf.co  python  GET  /xet-bridge-us/abc",
            "allow   huggingface.co  /usr/bin/git-lfs  GET  /org/model.git/info/lfs",
            "binary  huggingface.co  node  GET  /api/models/org/model",
            "host    router.huggingface.co  python  POST  /v1/chat/completions",
            "host    hf.co  python  GET  /",
            "request huggingface.co  python  POST  /api/repos/create",
            "request cdn-lfs.huggingface.co  python  PUT  /repos/ab/cd/file",
        ],
    );
}

#[test]
fn slack_allows_the_web_api_webhooks_and_socket_mode() {
    claims(
        "slack",
        &preset_policy("slack"),
        &[
            "allow   slack.com  node  POST  /api/chat.postMessage",
            "allow   slack.com  python  GET  /api/conversations.history",
            "allow   hooks.slack.com  curl  POST  /services/T0/B0/x",
            "allow   files.slack.com  node  GET  /files-pri/T0-F0/a.png",
            "allow   wss-primary.slack.com  node  GET  /link/",
            "allow   wss-backup.slack.com  node  WEBSOCKET_TEXT  /link/",
            "binary  slack.com  /usr/bin/wget  POST  /api/chat.postMessage",
            "binary  hooks.slack.com  /bin/bash  POST  /services/T0/B0/x",
            "host    slack.evil.example  node  POST  /api/x",
            "request slack.com  node  POST  /admin/users",
            "request files.slack.com  node  POST  /upload",
            "request hooks.slack.com  curl  GET  /",
        ],
    );
}

#[test]
fn discord_allows_the_bot_api_and_gateway_without_deletes() {
    claims(
        "discord",
        &preset_policy("discord"),
        &[
            "allow   discord.com  node  POST  /api/v10/channels/1/messages",
            "allow   discord.com  python  PUT  /api/v10/channels/1/messages/2/reactions/x/@me",
            "allow   gateway.discord.gg  node  GET  /",
            "allow   gateway-us-east1-b.discord.gg  node  WEBSOCKET_TEXT  /",
            "allow   cdn.discordapp.com  node  GET  /attachments/1/2/a.png",
            "binary  discord.com  /usr/bin/bash  POST  /api/v10/channels/1/messages",
            "host    discordapp.com  node  GET  /api/v10/users/@me",
            "host    evil.discord.gg  node  GET  /",
            "request discord.com  node  DELETE  /api/v10/channels/1/messages/2",
            "request discord.com  node  GET  /login",
            "request cdn.discordapp.com  node  POST  /attachments/1",
        ],
    );
}

#[test]
fn telegram_allows_the_bot_api_only() {
    claims(
        "telegram",
        &preset_policy("telegram"),
        &[
            "allow   api.telegram.org  node  POST  /bot123:ABC/sendMessage",
            "allow   api.telegram.org  python  GET  /bot123:ABC/getUpdates",
            "allow   api.telegram.org  curl  GET  /file/bot123:ABC/photos/a.jpg",
            "binary  api.telegram.org  /usr/bin/wget  GET  /bot1:A/getMe",
            "host    telegram.org  node  GET  /",
            "request api.telegram.org  node  GET  /",
            "request api.telegram.org  node  DELETE  /bot123:ABC/x",
        ],
    );
}

#[test]
fn jira_allows_issue_work_without_deletes() {
    claims(
        "jira",
        &preset_policy("jira"),
        &[
            "allow   acme.atlassian.net  node  GET  /rest/api/3/issue/KEY-1",
            "allow   acme.atlassian.net  python  POST  /rest/api/3/search/jql",
            "allow   acme.atlassian.net  curl  POST  /rest/api/2/issue",
            "allow   acme.atlassian.net  node  PUT  /rest/api/3/issue/KEY-1",
            "allow   acme.atlassian.net  node  POST  /rest/api/3/issue/KEY-1/comment",
            "allow   acme.atlassian.net  node  POST  /rest/api/3/issue/KEY-1/transitions",
            "allow   api.atlassian.com  node  POST  /ex/jira/abc/rest/api/3/issue",
            "allow   auth.atlassian.com  node  POST  /oauth/token",
            "binary  acme.atlassian.net  /usr/bin/ssh  GET  /",
            "host    atlassian.net  node  GET  /",
            "host    acme.atlassian.net.evil.example  node  GET  /",
            "request acme.atlassian.net  node  DELETE  /rest/api/3/issue/KEY-1",
            "request acme.atlassian.net  node  POST  /rest/api/3/project",
            "request auth.atlassian.com  node  GET  /authorize",
        ],
    );
}

#[test]
fn docker_hub_allows_pulls_only() {
    claims(
        "docker-hub",
        &preset_policy("docker-hub"),
        &[
            "allow   registry-1.docker.io  /usr/bin/skopeo  GET  /v2/library/alpine/manifests/latest",
            "allow   registry-1.docker.io  /usr/local/bin/crane  HEAD  /v2/library/alpine/manifests/3",
            "allow   auth.docker.io  /usr/bin/podman  GET  /token?service=registry.docker.io&scope=repository:library/alpine:pull",
            "allow   production.cloudflare.docker.com  curl  GET  /registry-v2/docker/registry/v2/blobs/x",
            "binary  registry-1.docker.io  python  GET  /v2/",
            "host    quay.io  /usr/bin/skopeo  GET  /v2/",
            "host    ghcr.io  /usr/bin/skopeo  GET  /v2/",
            "request registry-1.docker.io  /usr/bin/skopeo  POST  /v2/me/app/blobs/uploads/",
            "request registry-1.docker.io  /usr/bin/skopeo  PUT  /v2/me/app/manifests/latest",
            "request registry-1.docker.io  /usr/bin/skopeo  DELETE  /v2/me/app/manifests/sha256:0",
        ],
    );
}

#[test]
fn outlook_allows_own_mail_and_calendar_without_deletes() {
    claims(
        "outlook",
        &preset_policy("outlook"),
        &[
            "allow   graph.microsoft.com  node  GET  /v1.0/me",
            "allow   graph.microsoft.com  node  GET  /v1.0/me/messages",
            "allow   graph.microsoft.com  python  GET  /v1.0/me/mailFolders/inbox/messages",
            "allow   graph.microsoft.com  python  GET  /v1.0/me/calendarView",
            "allow   graph.microsoft.com  node  POST  /v1.0/me/sendMail",
            "allow   graph.microsoft.com  node  POST  /v1.0/me/messages/AAA/reply",
            "allow   graph.microsoft.com  node  PATCH  /v1.0/me/messages/AAA",
            "allow   login.microsoftonline.com  node  POST  /common/oauth2/v2.0/token",
            "allow   login.microsoftonline.com  curl  POST  /tenant-id/oauth2/v2.0/devicecode",
            "binary  graph.microsoft.com  /usr/bin/wget  GET  /v1.0/me",
            "host    outlook.office365.com  node  GET  /",
            "host    graph.microsoft.com.evil.example  node  GET  /v1.0/me",
            "request graph.microsoft.com  node  DELETE  /v1.0/me/messages/AAA",
            "request graph.microsoft.com  node  GET  /v1.0/users",
            "request graph.microsoft.com  node  GET  /v1.0/me/drive/root/children",
            "request graph.microsoft.com  node  POST  /v1.0/users/x/sendMail",
        ],
    );
}

#[test]
fn openclaw_reaches_its_own_services_read_only_and_no_model_provider() {
    claims(
        "openclaw",
        &profile_policy("openclaw"),
        &[
            "allow   clawhub.ai  node  GET  /api/v1/skills",
            "allow   clawhub.ai  npm-node  GET  /api/v1/download/owner/skill",
            "allow   openclaw.ai  /usr/local/bin/node  GET  /",
            "allow   docs.openclaw.ai  npm-node  GET  /tools/clawhub",
            "allow   catalog.openclaw.ai  npm-node  GET  /models/v1/catalog.json",
            "request catalog.openclaw.ai  npm-node  POST  /models/v1/catalog.json",
            "request catalog.openclaw.ai  npm-node  GET  /admin",
            // The update check and usage report are off (environment) and refused.
            "host    telemetry.openclaw.ai  npm-node  GET  /api/latest-version",
            // Tools the agent starts are other binaries.
            "binary  clawhub.ai  curl  GET  /api/v1/skills",
            "binary  docs.openclaw.ai  python  GET  /",
            // No model provider: the model is reached through inference.local only.
            "host    api.openai.com  node  POST  /v1/chat/completions",
            "host    integrate.api.nvidia.com  node  POST  /v1/chat/completions",
            "host    api.anthropic.com  node  POST  /v1/messages",
            "host    registry.npmjs.org  node  GET  /openclaw",
            "request clawhub.ai  node  POST  /api/v1/skills",
            "request openclaw.ai  node  PUT  /api/x",
        ],
    );
}

#[test]
fn claude_reaches_anthropic_for_its_binaries_only() {
    claims(
        "claude",
        &profile_policy("claude"),
        &[
            "allow   api.anthropic.com  /usr/local/bin/claude  POST  /v1/messages?beta=true",
            "allow   api.anthropic.com  /sandbox/.local/share/claude/versions/2.0.14  POST  /v1/messages/count_tokens",
            "allow   api.anthropic.com  /usr/local/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe  GET  /api/oauth/profile",
            "allow   statsig.anthropic.com  node  POST  /v1/rgstr",
            "allow   sentry.io  /usr/local/bin/claude  GET  /",
            "binary  api.anthropic.com  curl  POST  /v1/messages",
            "binary  api.anthropic.com  python  POST  /v1/messages",
            "host    api.openai.com  /usr/local/bin/claude  POST  /v1/responses",
            "host    evil.anthropic.com  /usr/local/bin/claude  GET  /",
            // Crash reports to any sentry project would be an open channel out.
            "request sentry.io  /usr/local/bin/claude  POST  /api/123/envelope/",
            "request api.anthropic.com  /usr/local/bin/claude  DELETE  /v1/files/x",
            "request api.anthropic.com  /usr/local/bin/claude  POST  /v1/files",
        ],
    );
}

#[test]
fn codex_reaches_openai_for_its_binary_only() {
    claims(
        "codex",
        &profile_policy("codex"),
        &[
            "allow   api.openai.com  /usr/local/bin/codex  POST  /v1/responses",
            "allow   api.openai.com  /usr/local/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex  GET  /v1/models",
            "allow   chatgpt.com  /usr/bin/codex  POST  /backend-api/codex/responses",
            "allow   auth.openai.com  /usr/bin/codex  POST  /oauth/token",
            // The npm launcher is a Node script; only the native binary it starts connects.
            "binary  api.openai.com  node  POST  /v1/responses",
            "binary  api.openai.com  curl  POST  /v1/responses",
            "host    api.anthropic.com  /usr/local/bin/codex  POST  /v1/messages",
            "request api.openai.com  /usr/local/bin/codex  POST  /v1/files",
            "request chatgpt.com  /usr/local/bin/codex  POST  /backend-api/conversation",
            "request auth.openai.com  /usr/local/bin/codex  GET  /authorize",
        ],
    );
}

#[test]
fn opencode_reads_its_catalogue_and_packages_only() {
    claims(
        "opencode",
        &profile_policy("opencode"),
        &[
            "allow   models.dev  /usr/local/bin/opencode  GET  /api.json",
            "allow   opencode.ai  /sandbox/.opencode/bin/opencode  GET  /config.json",
            "allow   registry.npmjs.org  /usr/local/lib/node_modules/opencode-ai/node_modules/opencode-linux-x64/bin/opencode  GET  /@ai-sdk%2Fopenai-compatible",
            "binary  models.dev  node  GET  /api.json",
            "binary  registry.npmjs.org  node  GET  /express",
            "host    api.openai.com  /usr/local/bin/opencode  POST  /v1/chat/completions",
            "request opencode.ai  /usr/local/bin/opencode  POST  /api/share",
            "request registry.npmjs.org  /usr/local/bin/opencode  PUT  /pkg",
        ],
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
