//! `cordon profile list|show` and `cordon preset list|show|apply` through the real
//! binary: listings (text and JSON), shown profiles and presets are policies that
//! `policy validate` accepts and `policy explain` decides as documented, unknown names
//! fail with one line naming the known ones, and `preset apply` hot-reloads a running
//! named sandbox (root and rootless), is idempotent, and refuses a clashing entry.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use super::common::{MODES, Mode, Run, WorldDir, cordon as cordon_as, unique};

const PROFILES: [&str; 5] = ["openclaw", "claude", "codex", "opencode", "generic"];
const PRESETS: [&str; 10] = [
    "pypi",
    "npm",
    "github",
    "huggingface",
    "slack",
    "discord",
    "telegram",
    "jira",
    "docker-hub",
    "outlook",
];

fn cordon() -> Command {
    Command::cargo_bin("cordon").unwrap()
}

/// Runs `cordon args...` and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = cordon().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "cordon {args:?} failed: {stderr}");
    stdout
}

/// `cordon policy explain FILE ... --json`'s overall decision.
fn explain(file: &Path, host: &str, binary: &str, method: &str, path: &str) -> String {
    let out = ok(&[
        "policy",
        "explain",
        file.to_str().unwrap(),
        "--host",
        host,
        "--port",
        "443",
        "--binary",
        binary,
        "--method",
        method,
        "--path",
        path,
        "--json",
    ]);
    let value: Value = serde_json::from_str(&out).unwrap();
    value["decision"].as_str().unwrap().to_owned()
}

/// Saves `cordon <kind> show NAME` in `dir` and checks `policy validate` accepts it.
fn shown_policy(dir: &Path, kind: &str, name: &str) -> PathBuf {
    let text = ok(&[kind, "show", name]);
    assert!(
        text.starts_with(&format!("# cordon {kind}: {name}\n")),
        "{text}"
    );
    let file = dir.join(format!("{kind}-{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let (code, stdout, stderr) = run(&["policy", "validate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{kind} {name}: {stderr}");
    assert!(stdout.ends_with(": valid\n"));
    assert!(stderr.is_empty(), "{kind} {name} warns: {stderr}");
    file
}

#[test]
fn profile_list_names_every_profile_as_text_and_json() {
    let text = ok(&["profile", "list"]);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("NAME"));
    let names: Vec<_> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, PROFILES);

    let json: Value = serde_json::from_str(&ok(&["profile", "list", "--json"])).unwrap();
    let items = json.as_array().unwrap();
    let names: Vec<_> = items.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, PROFILES);
    let openclaw = &items[0];
    assert_eq!(openclaw["state_dirs"][0], "$HOME/.openclaw");
    assert_eq!(
        openclaw["read_only_files"][0],
        "$HOME/.openclaw/openclaw.json"
    );
    assert_eq!(
        openclaw["inference"]["base_url"],
        "http://inference.local/v1"
    );
    assert_eq!(openclaw["network_entries"][0], "openclaw");
    assert_eq!(openclaw["command"][0], "openclaw");
}

#[test]
fn every_shown_profile_is_a_valid_policy_that_explain_decides() {
    let dir = tempfile::tempdir().unwrap();
    for name in PROFILES {
        shown_policy(dir.path(), "profile", name);
    }
    let openclaw = dir.path().join("profile-openclaw.yaml");
    let text = std::fs::read_to_string(&openclaw).unwrap();
    assert!(
        text.contains("# command:         openclaw gateway run"),
        "{text}"
    );
    assert_eq!(
        explain(
            &openclaw,
            "clawhub.ai",
            "/usr/bin/node",
            "GET",
            "/api/v1/skills"
        ),
        "allow"
    );
    // Twins: a write, another binary, a model provider.
    assert_eq!(
        explain(
            &openclaw,
            "clawhub.ai",
            "/usr/bin/node",
            "POST",
            "/api/v1/skills"
        ),
        "deny"
    );
    assert_eq!(
        explain(
            &openclaw,
            "clawhub.ai",
            "/usr/bin/curl",
            "GET",
            "/api/v1/skills"
        ),
        "deny"
    );
    assert_eq!(
        explain(
            &openclaw,
            "api.openai.com",
            "/usr/bin/node",
            "POST",
            "/v1/chat/completions"
        ),
        "deny"
    );
    let claude = dir.path().join("profile-claude.yaml");
    assert_eq!(
        explain(
            &claude,
            "api.anthropic.com",
            "/usr/local/bin/claude",
            "POST",
            "/v1/messages"
        ),
        "allow"
    );
    assert_eq!(
        explain(
            &claude,
            "sentry.io",
            "/usr/local/bin/claude",
            "POST",
            "/api/1/envelope/"
        ),
        "deny"
    );
}

#[test]
fn profile_show_json_carries_metadata_and_the_normalised_policy() {
    let json: Value = serde_json::from_str(&ok(&["profile", "show", "claude", "--json"])).unwrap();
    assert_eq!(json["name"], "claude");
    assert_eq!(json["inference"]["api"], "anthropic-messages");
    let env = json["inference"]["env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|v| v["name"] == "ANTHROPIC_BASE_URL" && v["value"] == "http://inference.local")
    );
    let policy = &json["policy"];
    assert_eq!(policy["version"], 1);
    let endpoints = policy["network_policies"]["claude_code"]["endpoints"]
        .as_array()
        .unwrap();
    assert_eq!(endpoints[0]["host"], "api.anthropic.com");
    assert_eq!(endpoints[0]["ports"][0], 443);

    let generic: Value =
        serde_json::from_str(&ok(&["profile", "show", "generic", "--json"])).unwrap();
    assert_eq!(generic["policy"]["network_policies"], serde_json::json!({}));
}

#[test]
fn unknown_names_fail_with_one_line_naming_the_known_ones() {
    for (kind, known) in [("profile", &PROFILES[..]), ("preset", &PRESETS[..])] {
        let (code, stdout, stderr) = run(&[kind, "show", "nope"]);
        assert_eq!(code, 1, "{kind}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("unknown {kind} `nope`")),
            "{stderr}"
        );
        for name in known {
            assert!(stderr.contains(name), "{stderr}");
        }
        // Names are exact: a case variant of a known name is unknown too; its twin is fine.
        let (code, _, _) = run(&[kind, "show", &known[0].to_uppercase()]);
        assert_eq!(code, 1);
        let (code, _, _) = run(&[kind, "show", known[0]]);
        assert_eq!(code, 0);
    }
    let (code, _, stderr) = run(&["preset", "apply", "nope", "some-sandbox"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown preset `nope`"), "{stderr}");
}

#[test]
fn preset_list_names_every_preset_with_its_hosts() {
    let text = ok(&["preset", "list"]);
    let names: Vec<_> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, PRESETS);

    let json: Value = serde_json::from_str(&ok(&["preset", "list", "--json"])).unwrap();
    let items = json.as_array().unwrap();
    let names: Vec<_> = items.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, PRESETS);
    for item in items {
        assert!(!item["description"].as_str().unwrap().is_empty());
        assert!(!item["hosts"].as_array().unwrap().is_empty(), "{item}");
        assert!(item.get("network_policies").is_none(), "list stays short");
    }
    assert_eq!(
        items[0]["hosts"],
        serde_json::json!(["pypi.org", "files.pythonhosted.org"])
    );
}

#[test]
fn every_shown_preset_is_a_valid_policy_that_explain_decides() {
    let dir = tempfile::tempdir().unwrap();
    for name in PRESETS {
        shown_policy(dir.path(), "preset", name);
    }
    let pypi = dir.path().join("preset-pypi.yaml");
    assert_eq!(
        explain(
            &pypi,
            "pypi.org",
            "/usr/bin/python3.11",
            "GET",
            "/simple/requests/"
        ),
        "allow"
    );
    assert_eq!(
        explain(&pypi, "pypi.org", "/usr/bin/python3.11", "POST", "/legacy/"),
        "deny"
    );
    assert_eq!(
        explain(
            &pypi,
            "pypi.org",
            "/usr/bin/curl",
            "GET",
            "/simple/requests/"
        ),
        "deny"
    );
    let github = dir.path().join("preset-github.yaml");
    assert_eq!(
        explain(
            &github,
            "github.com",
            "/usr/lib/git-core/git-remote-http",
            "POST",
            "/o/r.git/git-upload-pack"
        ),
        "allow"
    );
    assert_eq!(
        explain(
            &github,
            "github.com",
            "/usr/lib/git-core/git-remote-http",
            "POST",
            "/o/r.git/git-receive-pack"
        ),
        "deny"
    );
}

#[test]
fn preset_show_json_has_the_entry_keyed_by_the_preset_name() {
    let json: Value =
        serde_json::from_str(&ok(&["preset", "show", "docker-hub", "--json"])).unwrap();
    assert_eq!(json["name"], "docker-hub");
    let entry = &json["network_policies"]["docker-hub"];
    assert_eq!(entry["endpoints"][0]["host"], "registry-1.docker.io");
    assert_eq!(entry["endpoints"][0]["access"], "read-only");
    assert!(
        json["hosts"]
            .as_array()
            .unwrap()
            .contains(&Value::from("auth.docker.io"))
    );
}

/// Named sandboxes of one test, in a state directory of their own, removed at the end.
struct Sandboxes {
    mode: Mode,
    dir: WorldDir,
    names: Vec<String>,
}

impl Sandboxes {
    fn new(mode: Mode) -> Sandboxes {
        Sandboxes {
            mode,
            dir: WorldDir::new(true),
            names: Vec::new(),
        }
    }

    fn cordon(&self, args: &[&str]) -> Run {
        cordon_as(self.mode, args)
            .env(
                "XDG_STATE_HOME",
                self.dir.path().join("state").to_str().unwrap(),
            )
            .run()
    }

    /// Creates a running sandbox whose policy is `policy` (YAML).
    fn create(&mut self, prefix: &str, policy: &str) -> String {
        let name = unique(prefix);
        let file = self.dir.file(&format!("{name}.yaml"), policy);
        self.names.push(name.clone());
        let created = self.cordon(&[
            "create",
            "--policy",
            file.to_str().unwrap(),
            &name,
            "--",
            "sleep",
            "600",
        ]);
        created.ok();
        name
    }

    fn generation(&self, name: &str) -> u64 {
        let status: Value =
            serde_json::from_str(self.cordon(&["status", name, "--json"]).ok()).unwrap();
        status["live"]["policy"]["generation"].as_u64().unwrap()
    }
}

impl Drop for Sandboxes {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.cordon(&["rm", "--force", name]);
        }
    }
}

#[test]
fn preset_apply_hot_reloads_a_running_sandbox_once() {
    let generic = ok(&["profile", "show", "generic"]);
    for mode in MODES {
        let mut sandboxes = Sandboxes::new(mode);
        let name = sandboxes.create("preset", &generic);
        assert_eq!(sandboxes.generation(&name), 1);
        let before = sandboxes.cordon(&["policy", "get", &name]).ok().to_owned();
        assert!(!before.contains("pypi.org"), "{mode:?}");

        let applied = sandboxes.cordon(&["preset", "apply", "pypi", &name]);
        let out = applied.ok();
        assert!(out.contains("preset pypi applied"), "{mode:?}: {out}");
        assert!(out.contains("generation 2 in force"), "{mode:?}: {out}");
        assert_eq!(sandboxes.generation(&name), 2);
        // The source in force names what made it, not a temporary file.
        let status = sandboxes.cordon(&["status", &name]).ok().to_owned();
        assert!(
            status.contains("cordon preset apply pypi"),
            "{mode:?}: {status}"
        );
        let after = sandboxes.cordon(&["policy", "get", &name]).ok().to_owned();
        assert!(
            after.contains("files.pythonhosted.org"),
            "{mode:?}: {after}"
        );

        // The policy in force allows what the preset claims.
        let file = sandboxes.dir.file("in-force.yaml", &after);
        assert_eq!(
            explain(&file, "pypi.org", "/usr/bin/python3.11", "GET", "/simple/"),
            "allow"
        );

        // Applying again changes nothing: no new generation.
        let again = sandboxes.cordon(&["preset", "apply", "pypi", &name]);
        assert!(
            again.ok().contains("nothing changed"),
            "{mode:?}: {again:?}"
        );
        assert_eq!(sandboxes.generation(&name), 2);
    }
}

#[test]
fn preset_apply_refuses_a_clashing_entry_and_keeps_the_policy() {
    // The sandbox's own `github` entry differs from the preset's.
    let policy = "version: 1\nnetwork_policies:\n  github:\n    endpoints:\n      - host: github.com\n        port: 443\n    binaries:\n      - path: /usr/bin/git\n";
    let mut sandboxes = Sandboxes::new(Mode::Root);
    let name = sandboxes.create("clash", policy);
    let refused = sandboxes.cordon(&["preset", "apply", "github", &name]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("`network_policies.github`"),
        "{}",
        refused.stderr
    );
    assert_eq!(sandboxes.generation(&name), 1);
    // Its twin: another preset applies to the same sandbox.
    sandboxes.cordon(&["preset", "apply", "npm", &name]).ok();
    assert_eq!(sandboxes.generation(&name), 2);
    // And an unknown sandbox is the operator's error, not cordon's.
    let missing = sandboxes.cordon(&["preset", "apply", "npm", "no-such-sandbox"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains("no-such-sandbox"),
        "{}",
        missing.stderr
    );
}
