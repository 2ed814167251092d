//! Snapshot tests of every user-facing message: the errors for each invalid fixture,
//! the warnings of valid ones, and `policy show` of the default policy. A wording
//! change shows up as a reviewable `.snap` diff (`cargo insta review`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::path::{Path, PathBuf};

use cordon_policy::{default_policy, parse_str};

fn fixture_dirs() -> [(&'static str, PathBuf); 2] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        ("shared", root.join("../shared/fixtures/policies")),
        ("own", root.join("tests/fixtures/policies")),
    ]
}

/// Every problem/warning, with the file shown by name only (stable across machines).
fn report(dir: &Path, file: &str) -> String {
    let source = std::fs::read_to_string(dir.join(file)).unwrap();
    match parse_str(&source, file) {
        Err(err) => err.to_string(),
        Ok(loaded) => loaded
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn messages_of_every_fixture() {
    for (set, dir) in fixture_dirs() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("fixture directory {} is missing: {err}", dir.display()));
        let mut files: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = report(&dir, &file);
            if file.starts_with("valid-") && text.is_empty() {
                continue;
            }
            let name = format!("{set}__{}", file.trim_end_matches(".yaml"));
            insta::assert_snapshot!(name, text);
        }
    }
}

#[test]
fn default_policy_show_output() {
    insta::assert_snapshot!("default_policy_yaml", default_policy().to_yaml().unwrap());
}

#[test]
fn unknown_fields_get_did_you_mean_hints() {
    let cases = [
        (
            "version: 1\nfilesystem_policy:\n  read_onyl: [/usr]\n",
            "read_only",
        ),
        (
            "version: 1\nlandlock:\n  compatability: best_effort\n",
            "compatibility",
        ),
        ("version: 1\nresources:\n  memroy: 1GiB\n", "memory"),
        (
            "version: 1\nnetwork_policies:\n  a:\n    endpoints:\n      - { host: x.example.com, prot: 443 }\n",
            "port",
        ),
        (
            "version: 1\nlandlock:\n  compatibility: best-effort\n",
            "best_effort",
        ),
    ];
    let rendered: Vec<String> = cases
        .iter()
        .map(|(yaml, close)| {
            let err = parse_str(yaml, "typo.yaml").unwrap_err().to_string();
            assert!(err.contains(&format!("did you mean `{close}`?")), "{err}");
            err
        })
        .collect();
    insta::assert_snapshot!("did_you_mean", rendered.join("\n"));
}
