//! `cordon provider create|list|rm` and `cordon inference set|show|unset` through the
//! real binary, as root and rootless, with a temporary XDG_CONFIG_HOME: files are 0600
//! in a 0700 directory, the key is stored but never printed, errors are one line with
//! exit 1 for bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::common::{MODES, Mode, Run, WorldDir, cordon};

/// A key no other test uses, so finding it anywhere is a leak from this test.
const KEY: &str = "sk-cli-planted-7a1c9e02d4b6";

fn run(mode: Mode, config: &Path, args: &[&str]) -> Run {
    cordon(mode, args)
        .env("XDG_CONFIG_HOME", config.to_str().unwrap())
        .env("PLANTED_KEY", KEY)
        .run()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every output of a run, for leak checks.
fn all_output(run: &Run) -> String {
    format!("{}{}", run.stdout, run.stderr)
}

#[test]
fn create_list_rm_keeps_the_key_private() {
    for mode in MODES {
        let config = WorldDir::new(true);
        let dir = config.path().join("cordon");

        let created = run(
            mode,
            config.path(),
            &[
                "provider",
                "create",
                "oa",
                "--type",
                "openai",
                "--key-env",
                "PLANTED_KEY",
            ],
        );
        let out = created.ok().to_owned();
        assert!(out.contains("sha256:"), "{out}");
        assert!(!all_output(&created).contains(KEY));

        assert_eq!(mode_of(&dir), 0o700, "{mode:?}");
        for file in ["providers.json", "credentials.json"] {
            assert_eq!(mode_of(&dir.join(file)), 0o600, "{file} {mode:?}");
        }
        // The key is stored (only in the credential file)...
        let creds = std::fs::read_to_string(dir.join("credentials.json")).unwrap();
        assert!(creds.contains(KEY));
        assert!(
            !std::fs::read_to_string(dir.join("providers.json"))
                .unwrap()
                .contains(KEY)
        );

        // ...and never printed back.
        let listed = run(mode, config.path(), &["provider", "list"]);
        assert!(listed.ok().contains("oa") && listed.stdout.contains("https://api.openai.com/v1"));
        let json = run(mode, config.path(), &["provider", "list", "--json"]);
        let parsed: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
        assert_eq!(parsed[0]["name"], "oa");
        assert_eq!(parsed[0]["type"], "openai");
        assert!(
            parsed[0]["key_fingerprint"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert!(!all_output(&listed).contains(KEY) && !all_output(&json).contains(KEY));

        let removed = run(mode, config.path(), &["provider", "rm", "oa"]);
        removed.ok();
        assert!(
            !std::fs::read_to_string(dir.join("credentials.json"))
                .unwrap()
                .contains(KEY)
        );
        let listed = run(mode, config.path(), &["provider", "list", "--json"]);
        assert_eq!(listed.ok().trim(), "[]");
    }
}

#[test]
fn keys_from_a_file_and_defaults_per_type() {
    let config = WorldDir::new(true);
    let key_file = config.file("key.txt", &format!("{KEY}\n"));
    let c = config.path();
    run(
        Mode::Root,
        c,
        &[
            "provider",
            "create",
            "ant",
            "--type",
            "anthropic",
            "--key-file",
            key_file.to_str().unwrap(),
        ],
    )
    .ok();
    run(
        Mode::Root,
        c,
        &[
            "provider",
            "create",
            "nv",
            "--type",
            "nvidia",
            "--key-env",
            "PLANTED_KEY",
        ],
    )
    .ok();
    run(
        Mode::Root,
        c,
        &[
            "provider", "create", "local", "--type", "ollama", "--no-key",
        ],
    )
    .ok();
    run(
        Mode::Root,
        c,
        &[
            "provider",
            "create",
            "vllm",
            "--type",
            "openai-compatible",
            "--base-url",
            "http://10.1.2.3:8000",
            "--no-key",
        ],
    )
    .ok();
    let listed = run(Mode::Root, c, &["provider", "list", "--json"]);
    let parsed: serde_json::Value = serde_json::from_str(listed.ok()).unwrap();
    let urls: Vec<_> = parsed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["base_url"].as_str().unwrap()))
        .collect();
    assert_eq!(
        urls,
        [
            ("ant", "https://api.anthropic.com/v1"),
            ("local", "http://127.0.0.1:11434/v1"),
            ("nv", "https://integrate.api.nvidia.com/v1"),
            ("vllm", "http://10.1.2.3:8000/v1"),
        ]
    );
    // The file's trailing newline is not part of the key: same fingerprint as the env.
    assert_eq!(parsed[0]["key_fingerprint"], parsed[2]["key_fingerprint"]);
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let config = WorldDir::new(true);
    let c = config.path();
    let cases: [&[&str]; 6] = [
        &["provider", "create", "x", "--type", "gpt", "--no-key"],
        &["provider", "create", "x", "--type", "openai", "--no-key"],
        &[
            "provider",
            "create",
            "x",
            "--type",
            "openai-compatible",
            "--no-key",
        ],
        &["provider", "create", "Bad", "--type", "ollama", "--no-key"],
        &[
            "provider",
            "create",
            "x",
            "--type",
            "openai",
            "--key-env",
            "NOT_SET_ANYWHERE_42",
        ],
        &["provider", "rm", "missing"],
    ];
    for args in cases {
        let out = run(Mode::Root, c, args);
        assert_eq!(out.code, 1, "{args:?}: {out:#?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("cordon: "), "{}", out.stderr);
    }
    // The allowed twins.
    run(
        Mode::Root,
        c,
        &["provider", "create", "x", "--type", "ollama", "--no-key"],
    )
    .ok();
    let dup = run(
        Mode::Root,
        c,
        &["provider", "create", "x", "--type", "ollama", "--no-key"],
    );
    assert_eq!(dup.code, 1);
    run(
        Mode::Root,
        c,
        &[
            "provider",
            "create",
            "x",
            "--type",
            "ollama",
            "--no-key",
            "--replace",
        ],
    )
    .ok();
    // A usage error (no key source) is cordon's 125, like every clap error.
    let usage = run(
        Mode::Root,
        c,
        &["provider", "create", "y", "--type", "ollama"],
    );
    assert_eq!(usage.code, 125);
}

#[test]
fn loose_credential_files_are_refused() {
    let config = WorldDir::new(true);
    let c = config.path();
    run(
        Mode::Root,
        c,
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
    let creds = c.join("cordon/credentials.json");
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(Mode::Root, c, &["inference", "set", "--provider", "oa"]);
    assert_eq!(out.code, 125, "{out:#?}");
    assert!(out.stderr.contains("0644"), "{}", out.stderr);
    assert!(!all_output(&out).contains(KEY));
}

#[test]
fn default_inference_route_set_show_unset() {
    for mode in MODES {
        let config = WorldDir::new(true);
        let c = config.path();
        run(
            mode,
            c,
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
        run(
            mode,
            c,
            &[
                "provider",
                "create",
                "gh",
                "--type",
                "generic",
                "--key-env",
                "PLANTED_KEY",
            ],
        )
        .ok();

        assert_eq!(
            run(mode, c, &["inference", "show"]).ok().trim(),
            "no inference route"
        );
        let set = run(
            mode,
            c,
            &[
                "inference",
                "set",
                "--provider",
                "oa",
                "--model",
                "gpt-4o-mini",
            ],
        );
        assert!(set.ok().contains("gpt-4o-mini"));
        assert_eq!(mode_of(&c.join("cordon/inference.json")), 0o600);
        let shown = run(mode, c, &["inference", "show", "--json"]);
        let parsed: serde_json::Value = serde_json::from_str(shown.ok()).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"provider": "oa", "model": "gpt-4o-mini"})
        );

        // Unknown and non-routable providers are refused, the route is unchanged.
        assert_eq!(
            run(mode, c, &["inference", "set", "--provider", "nope"]).code,
            1
        );
        assert_eq!(
            run(mode, c, &["inference", "set", "--provider", "gh"]).code,
            1
        );
        assert!(
            run(mode, c, &["inference", "show"])
                .ok()
                .contains("provider oa")
        );

        run(mode, c, &["inference", "unset"]).ok();
        assert_eq!(
            run(mode, c, &["inference", "show"]).ok().trim(),
            "no inference route"
        );
    }
}
