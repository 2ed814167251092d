//! Hostile or odd input: every outcome is one clear problem with a position and a fix,
//! never a panic, a hang or a leaked parser-internal message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use cordon_policy::{MAX_POLICY_BYTES, PolicyError, load_file, parse_bytes, parse_str};

fn problems(source: &str) -> PolicyError {
    parse_str(source, "p.yaml").expect_err("must be rejected")
}

fn one_line(err: &PolicyError) -> String {
    assert_eq!(err.problems.len(), 1, "{err}");
    err.problems[0].to_string()
}

#[test]
fn a_list_where_a_mapping_belongs_is_named_as_a_shape_error() {
    let line = one_line(&problems(
        "version: 1\nfilesystem_policy:\n  read_only: /usr\n",
    ));
    assert!(
        line.starts_with("p.yaml:3:14: `filesystem_policy.read_only`: expected a list here"),
        "{line}"
    );
    assert!(line.contains("(fix: write a list"), "{line}");
    assert!(!line.contains("syntax error"), "{line}");
    let line = one_line(&problems("[a, b]\n"));
    assert!(line.contains("the policy must be a YAML mapping"), "{line}");
    let line = one_line(&problems("version: one\n"));
    assert!(
        line.contains("`version`: this value is not a whole number (in range)"),
        "{line}"
    );
}

#[test]
fn several_documents_and_duplicate_keys_name_the_problem_and_the_field() {
    let line = one_line(&problems("version: 1\n---\nversion: 1\n"));
    assert!(line.contains("more than one YAML document"), "{line}");
    assert!(!line.contains("from_str_multiple"), "{line}");
    let line = one_line(&problems(
        "version: 1\nlandlock:\n  compatibility: best_effort\n  compatibility: best_effort\n",
    ));
    assert!(line.contains("`landlock.compatibility`"), "{line}");
    assert!(line.contains("duplicate"), "{line}");
}

#[test]
fn non_utf8_oversized_and_directory_files_are_one_problem_each() {
    let err = parse_bytes(
        b"version: 1\nnetwork_policies:\n  \xff\xfe: {}\n",
        "bin.yaml",
    )
    .unwrap_err();
    let line = one_line(&err);
    assert!(
        line.starts_with("bin.yaml:3:3: the file is not UTF-8"),
        "{line}"
    );
    let mut big = b"version: 1\n".to_vec();
    big.resize(MAX_POLICY_BYTES + 1, b'#');
    let line = one_line(&parse_bytes(&big, "big.yaml").unwrap_err());
    assert!(line.contains("larger than 4 MiB"), "{line}");
    let line = one_line(&load_file(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err());
    assert!(line.contains("not a directory"), "{line}");
    // An endless file stops at the cap instead of filling memory.
    let line = one_line(&load_file(std::path::Path::new("/dev/zero")).unwrap_err());
    assert!(line.contains("larger than 4 MiB"), "{line}");
}

#[test]
fn a_huge_value_is_elided_in_the_message() {
    let host = "a".repeat(100_000);
    let err = problems(&format!(
        "version: 1\nnetwork_policies:\n  e:\n    endpoints: [{{host: '{host} x', port: 443}}]\n    binaries: [{{path: /usr/bin/curl}}]\n"
    ));
    let line = one_line(&err);
    assert!(line.len() < 1200, "{} bytes", line.len());
    assert!(line.contains("characters elided"), "{line}");
    assert!(line.contains("(fix: "), "{line}");
}

#[test]
fn openshell_deprecated_harness_flag_loads_with_a_warning() {
    let loaded = parse_str(
        "version: 1\nnetwork_policies:\n  e:\n    endpoints: [{host: api.example.com, port: 443}]\n    binaries: [{path: /usr/bin/curl, harness: true}]\n",
        "h.yaml",
    )
    .unwrap();
    let warning = loaded.warnings[0].to_string();
    assert!(
        warning.contains("`network_policies.e.binaries[0].harness`"),
        "{warning}"
    );
    assert!(warning.contains("deprecated"), "{warning}");
}

#[test]
fn a_value_in_the_wrong_case_gets_a_did_you_mean() {
    let line = one_line(&problems(
        "version: 1\nnetwork_policies:\n  e:\n    endpoints: [{host: a.example.com, port: 443, protocol: REST, access: full}]\n    binaries: [{path: /usr/bin/curl}]\n",
    ));
    assert!(line.contains("did you mean `rest`?"), "{line}");
}
