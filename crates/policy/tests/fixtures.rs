//! Every policy fixture held to its README contract: the shared ones in
//! `../shared/fixtures/policies` (from the project root) and cordon's own in
//! `tests/fixtures/policies`. Also: what `policy show` prints loads back unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::path::{Path, PathBuf};

use cordon_policy::{CompiledPolicy, load_file, parse_str};

fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .unwrap_or_else(|err| panic!("workspace root {} unreadable: {err}", root.display()))
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("fixture directory {} is missing: {err}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The field path each shared invalid fixture's first-line comment implies.
const SHARED_EXPECTED: &[(&str, &str)] = &[
    (
        "invalid-access-and-rules.yaml",
        "network_policies.api.endpoints[0].rules",
    ),
    (
        "invalid-allowed-ips-loopback.yaml",
        "network_policies.meta.endpoints[0].allowed_ips[0]",
    ),
    (
        "invalid-bare-wildcard-host.yaml",
        "network_policies.everything.endpoints[0].host",
    ),
    (
        "invalid-dotdot-path.yaml",
        "filesystem_policy.read_write[0]",
    ),
    (
        "invalid-empty-rules.yaml",
        "network_policies.e.endpoints[0].rules",
    ),
    (
        "invalid-port-range.yaml",
        "network_policies.p.endpoints[0].port",
    ),
    (
        "invalid-relative-path.yaml",
        "filesystem_policy.read_only[0]",
    ),
    (
        "invalid-root-writable.yaml",
        "filesystem_policy.read_write[0]",
    ),
    ("invalid-run-as-root.yaml", "process.run_as_user"),
    (
        "invalid-tld-wildcard.yaml",
        "network_policies.tld.endpoints[0].host",
    ),
    (
        "invalid-unknown-field.yaml",
        "network_policies.typo.endpoint",
    ),
    ("invalid-version.yaml", "version"),
    (
        "invalid-wildcard-not-first-label.yaml",
        "network_policies.mid.endpoints[0].host",
    ),
    (
        "invalid-yaml-syntax.yaml",
        "network_policies.broken.endpoints",
    ),
];

fn assert_valid(path: &Path) {
    let loaded =
        load_file(path).unwrap_or_else(|err| panic!("{} must validate:\n{err}", name(path)));
    CompiledPolicy::compile(&loaded.policy).unwrap();
    // `policy show` output loads back to the same policy, in YAML and JSON form.
    let yaml = loaded.policy.to_yaml().unwrap();
    let again = parse_str(&yaml, "<show>")
        .unwrap_or_else(|err| panic!("{}: show output invalid:\n{err}\n{yaml}", name(path)));
    assert_eq!(again.policy, loaded.policy, "{}", name(path));
    let json = loaded.policy.to_json().unwrap();
    let again = parse_str(&json, "<show --json>").unwrap();
    assert_eq!(again.policy, loaded.policy, "{} (json)", name(path));
}

/// Rejected, naming `expected` fields (in order), each with line, column and a fix.
fn assert_invalid(path: &Path, expected: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("# invalid:"),
        "{}: first line must say `# invalid: ...`",
        name(path)
    );
    let err = load_file(path)
        .map(|_| ())
        .expect_err(&format!("{} must be rejected", name(path)));
    let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, expected, "{}:\n{err}", name(path));
    for problem in &err.problems {
        assert_eq!(problem.file, path.display().to_string());
        assert!(
            problem.line.is_some() && problem.column.is_some(),
            "{}: no position in {problem}",
            name(path)
        );
        assert!(
            problem.hint.is_some(),
            "{}: no fix in {problem}",
            name(path)
        );
        let rendered = problem.to_string();
        assert!(
            rendered.contains(&format!("`{}`", problem.field)),
            "{rendered}"
        );
    }
}

#[test]
fn shared_fixtures_hold_to_the_readme_contract() {
    let dir = workspace_root().join("../shared/fixtures/policies");
    let files = yaml_files(&dir);
    for path in &files {
        let file = name(path);
        if file.starts_with("valid-") {
            assert_valid(path);
        } else if file.starts_with("invalid-") {
            let expected = SHARED_EXPECTED
                .iter()
                .find(|(f, _)| *f == file)
                .unwrap_or_else(|| {
                    panic!("new shared fixture {file}: add its expected field to SHARED_EXPECTED")
                })
                .1;
            assert_invalid(path, &[expected]);
        } else {
            panic!("fixture {file} is neither valid-* nor invalid-*");
        }
    }
    assert!(files.iter().any(|f| name(f).starts_with("valid-")));
}

#[test]
fn own_fixtures_hold_to_their_readme_contract() {
    let dir = workspace_root().join("tests/fixtures/policies");
    for path in yaml_files(&dir) {
        let file = name(&path);
        if file.starts_with("valid-") {
            assert_valid(&path);
        } else if file.starts_with("invalid-") {
            let text = std::fs::read_to_string(&path).unwrap();
            let expect = text
                .lines()
                .nth(1)
                .and_then(|l| l.strip_prefix("# expect: "))
                .unwrap_or_else(|| panic!("{file}: second line must be `# expect: FIELD, ...`"));
            let expected: Vec<&str> = expect.split(", ").collect();
            assert_invalid(&path, &expected);
        } else {
            panic!("fixture {file} is neither valid-* nor invalid-*");
        }
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let dir = workspace_root().join("../shared/fixtures/policies");
    let err = load_file(&dir.join("invalid-yaml-syntax.yaml")).unwrap_err();
    let problem = &err.problems[0];
    assert!(
        problem.message.starts_with("YAML syntax error"),
        "{problem}"
    );
    assert!(problem.line.unwrap() >= 6, "{problem}");
}

#[test]
fn unreadable_file_is_one_clear_problem() {
    let err = load_file(Path::new("/nonexistent/policy.yaml")).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(
        err.to_string()
            .starts_with("/nonexistent/policy.yaml: cannot read policy file")
    );
}
