//! `cordon inference set|show|unset --sandbox NAME`: the route is written into the
//! running sandbox's policy and hot-reloaded (a new policy generation), as root and
//! rootless; an unknown provider changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use super::common::{MODES, Mode, Run, cordon};
use super::inference_run::Provider;
use super::lifecycle::Fleet;

/// `cordon <args>` as the fleet's user, with its state and a config dir beside it.
fn run(fleet: &Fleet, args: &[&str]) -> Run {
    let home = fleet.scratch().path();
    cordon(fleet.mode, args)
        .env("XDG_STATE_HOME", fleet.state_home().to_str().unwrap())
        .env("XDG_CONFIG_HOME", home.join("config").to_str().unwrap())
        .env("PLANTED_KEY", "sk-inference-cli-5d1e")
        .run()
}

fn generation(fleet: &Fleet, name: &str) -> u64 {
    fleet.status(name)["policy_generation"].as_u64().unwrap()
}

#[test]
fn inference_set_on_a_running_sandbox_reloads_its_policy() {
    for mode in MODES {
        let fleet = Fleet::new(mode);
        let name = if mode == Mode::Root {
            "inf-root"
        } else {
            "inf-rootless"
        };
        run(&fleet, &["create", name, "--", "/bin/sleep", "300"]).ok();
        run(
            &fleet,
            &[
                "provider",
                "create",
                "oa",
                "--type",
                "openai",
                "--key-env",
                "PLANTED_KEY",
            ],
        )
        .ok();
        let before = generation(&fleet, name);

        // Blocked twin: an unknown provider leaves the policy alone.
        let refused = run(
            &fleet,
            &["inference", "set", "--sandbox", name, "--provider", "nope"],
        );
        assert_eq!(refused.code, 1, "{refused:#?}");
        assert_eq!(generation(&fleet, name), before);
        // An empty --model would rewrite every request's model to "": refused too.
        let empty = run(
            &fleet,
            &[
                "inference",
                "set",
                "--sandbox",
                name,
                "--provider",
                "oa",
                "--model",
                "",
            ],
        );
        assert_eq!(empty.code, 1, "{empty:#?}");
        assert!(empty.stderr.contains("--model"), "{empty:#?}");
        assert_eq!(generation(&fleet, name), before);

        let set = run(
            &fleet,
            &[
                "inference",
                "set",
                "--sandbox",
                name,
                "--provider",
                "oa",
                "--model",
                "gpt-x",
            ],
        );
        assert!(set.ok().contains("in force"), "{set:#?}");
        assert_eq!(generation(&fleet, name), before + 1);
        let shown = run(&fleet, &["inference", "show", "--sandbox", name, "--json"]);
        let parsed: serde_json::Value = serde_json::from_str(shown.ok()).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"provider": "oa", "model": "gpt-x"})
        );
        let policy = fleet.run(["policy", "get", name]);
        assert!(policy.ok().contains("provider: oa"), "{}", policy.stdout);
        assert!(
            !policy.stdout.contains("sk-inference-cli"),
            "keys never enter policies"
        );

        run(&fleet, &["inference", "unset", "--sandbox", name]).ok();
        assert_eq!(
            run(&fleet, &["inference", "show", "--sandbox", name])
                .ok()
                .trim(),
            "no inference route"
        );
        assert_eq!(generation(&fleet, name), before + 2);
    }
}

#[test]
fn switching_provider_on_a_running_sandbox() {
    super::common::require("curl");
    for mode in MODES {
        let first = Provider::start("sk-switch-first-01");
        let second = Provider::start("sk-switch-second-02");
        let fleet = Fleet::new(mode);
        let name = if mode == Mode::Root {
            "sw-root"
        } else {
            "sw-rootless"
        };
        for (provider, key, port) in [
            ("a", "sk-switch-first-01", first.port),
            ("b", "sk-switch-second-02", second.port),
        ] {
            let url = format!("http://127.0.0.1:{port}");
            cordon(
                fleet.mode,
                [
                    "provider",
                    "create",
                    provider,
                    "--type",
                    "openai-compatible",
                    "--base-url",
                    &url,
                    "--key-env",
                    "K",
                ],
            )
            .env(
                "XDG_CONFIG_HOME",
                fleet.scratch().path().join("config").to_str().unwrap(),
            )
            .env("K", key)
            .run()
            .ok();
        }
        run(&fleet, &["inference", "set", "--provider", "a"]).ok();
        // The supervisor reads the user's providers from the environment it starts in.
        run(&fleet, &["create", name, "--", "/bin/sleep", "300"]).ok();
        let ask = || {
            run(
                &fleet,
                &[
                    "exec",
                    name,
                    "--",
                    "/usr/bin/curl",
                    "-s",
                    "http://inference.local/v1/models",
                ],
            )
        };
        assert!(ask().ok().contains("m1"));
        assert_eq!(
            (first.requests().len(), second.requests().len()),
            (1, 0),
            "{mode:?}"
        );

        run(
            &fleet,
            &[
                "inference",
                "set",
                "--sandbox",
                name,
                "--provider",
                "b",
                "--model",
                "m-b",
            ],
        )
        .ok();
        assert!(ask().ok().contains("m1"));
        assert_eq!(
            (first.requests().len(), second.requests().len()),
            (1, 1),
            "{mode:?}"
        );
        assert_eq!(
            second.requests()[0]["headers"]["authorization"],
            "Bearer sk-switch-second-02"
        );

        // Removing the sandbox's route falls back to the user's default (a).
        run(&fleet, &["inference", "unset", "--sandbox", name]).ok();
        ask().ok();
        assert_eq!(
            (first.requests().len(), second.requests().len()),
            (2, 1),
            "{mode:?}"
        );

        // A route to a provider removed since: after a restart nothing is forwarded,
        // and both the 503 and `status` say which provider is missing.
        run(
            &fleet,
            &["inference", "set", "--sandbox", name, "--provider", "b"],
        )
        .ok();
        run(&fleet, &["provider", "rm", "b"]).ok();
        run(&fleet, &["stop", name]).ok();
        run(&fleet, &["start", name]).ok();
        let refused = ask();
        assert!(refused.ok().contains("no_inference_route"), "{refused:?}");
        assert!(
            refused.stdout.contains("no provider named `b`"),
            "{refused:?}"
        );
        assert_eq!(second.requests().len(), 1, "{mode:?}: nothing forwarded");
        let status = run(&fleet, &["status", name]);
        assert!(
            status
                .ok()
                .contains("inference:   no route: no provider named `b`"),
            "{mode:?}: {status:?}"
        );
    }
}
