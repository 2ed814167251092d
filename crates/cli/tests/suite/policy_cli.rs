//! `cordon policy validate|show|explain` driven through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;

fn cordon() -> Command {
    Command::cargo_bin("cordon").unwrap()
}

fn shared(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("../shared/fixtures/policies");
    assert!(dir.is_dir(), "shared fixtures missing at {}", dir.display());
    dir.join(name)
}

fn own(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/policies")
        .join(name)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn validate_accepts_every_valid_fixture() {
    let out = cordon()
        .args(["policy", "validate"])
        .arg(shared("valid-agent-default.yaml"))
        .arg(shared("valid-l7-rules.yaml"))
        .arg(own("valid-every-field.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches(": valid").count(), 3);
    // Warnings go to stderr without failing.
    assert!(stderr(&out).contains("warning: "), "{}", stderr(&out));
    assert!(stderr(&out).contains("`tls: terminate` is deprecated"));
}

#[test]
fn validate_rejects_and_prints_one_line_per_problem() {
    let out = cordon()
        .args(["policy", "validate"])
        .arg(shared("valid-minimal.yaml"))
        .arg(own("invalid-many-problems.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 9, "{err}");
    assert!(
        errors
            .iter()
            .all(|l| l.contains("invalid-many-problems.yaml:") && l.contains("(fix: "))
    );
    assert!(
        err.contains("`process.run_as_user`: uid 0 is root"),
        "{err}"
    );
}

#[test]
fn validate_names_file_line_column_and_field() {
    let out = cordon()
        .args(["policy", "validate"])
        .arg(shared("invalid-unknown-field.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("invalid-unknown-field.yaml:5:5: `network_policies.typo.endpoint`: unknown field `endpoint` (fix: did you mean `endpoints`?)"),
        "{err}"
    );
}

#[test]
fn validate_of_an_unreadable_file_is_exit_1_with_one_line() {
    let out = cordon()
        .args(["policy", "validate", "/nonexistent/policy.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/policy.yaml: cannot read policy file"));
}

#[test]
fn validate_without_files_is_a_usage_error() {
    let out = cordon().args(["policy", "validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn show_default_yaml_round_trips_through_validate() {
    let out = cordon()
        .args(["policy", "show", "--default"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml = stdout(&out);
    assert!(yaml.starts_with("version: 1\n"));
    assert!(yaml.contains("network_policies: {}"), "{yaml}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.yaml");
    std::fs::write(&file, &yaml).unwrap();
    cordon()
        .args(["policy", "validate"])
        .arg(&file)
        .assert()
        .code(0);
}

#[test]
fn show_file_as_json_is_normalised() {
    let out = cordon()
        .args(["policy", "show", "--json"])
        .arg(shared("valid-ports-and-wildcards.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let endpoints = &json["network_policies"]["registry"]["endpoints"];
    assert_eq!(endpoints[1]["host"], "**.cdn.example.org");
    assert_eq!(endpoints[1]["ports"], serde_json::json!([80, 443]));
    assert_eq!(endpoints[0]["ports"], serde_json::json!([443]));
    // Defaults filled in: name from the key, settings, filesystem.
    assert_eq!(json["network_policies"]["registry"]["name"], "registry");
    assert_eq!(json["network_settings"]["transparent"], true);
    assert_eq!(json["filesystem_policy"]["include_workdir"], true);
}

#[test]
fn show_errors_exit_1_for_invalid_and_125_for_unreadable() {
    let out = cordon()
        .args(["policy", "show"])
        .arg(shared("invalid-version.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`version`: unsupported policy version 2"));
    let out = cordon()
        .args(["policy", "show", "/nonexistent/p.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    // FILE and --default exclude each other.
    let out = cordon()
        .args(["policy", "show", "--default"])
        .arg(shared("valid-minimal.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn explain_allowed_request_names_entry_and_rule() {
    let out = cordon()
        .args(["policy", "explain"])
        .arg(shared("valid-l7-rules.yaml"))
        .args([
            "--host",
            "API.code.example.org",
            "--port",
            "443",
            "--binary",
            "/usr/bin/git",
        ])
        .args([
            "--method",
            "GET",
            "--path",
            "/org/x.git/info/refs",
            "--query",
            "service=git-upload-pack",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("decision: allow\n"), "{text}");
    assert!(
        text.contains("network_policies.code_api.endpoints[0]"),
        "{text}"
    );
    assert!(
        text.contains("rule:     network_policies.code_api.endpoints[0].rules[1]"),
        "{text}"
    );
}

#[test]
fn explain_denied_request_names_the_deny_rule() {
    let out = cordon()
        .args(["policy", "explain"])
        .arg(shared("valid-l7-rules.yaml"))
        .args([
            "--host",
            "api.code.example.org",
            "--port",
            "443",
            "--binary",
            "/usr/bin/git",
        ])
        .args(["--method", "GET", "--path", "/repos/me/secret-repo/blob"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("decision: deny\n"), "{text}");
    assert!(text.contains(".deny_rules[0]"), "{text}");
}

#[test]
fn explain_denied_connection_suggests_an_entry_that_validates() {
    let out = cordon()
        .args([
            "policy",
            "explain",
            "--default",
            "--host",
            "pypi.org",
            "--port",
            "443",
        ])
        .args(["--binary", "/usr/bin/python3.11", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["decision"], "deny");
    assert_eq!(
        json["connect"]["reason"],
        "no network_policies endpoint matches this host"
    );
    let suggestion = json["suggestion"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("suggested.yaml");
    std::fs::write(&file, format!("version: 1\n{suggestion}")).unwrap();
    let out = cordon()
        .args(["policy", "explain"])
        .arg(&file)
        .args([
            "--host",
            "pypi.org",
            "--port",
            "443",
            "--binary",
            "/usr/bin/python3.11",
            "--json",
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["decision"], "allow", "{suggestion}");
}

#[test]
fn explain_audit_endpoint_reports_audit_deny() {
    let out = cordon()
        .args(["policy", "explain"])
        .arg(shared("valid-l7-rules.yaml"))
        .args([
            "--host",
            "hooks.chat.example.com",
            "--port",
            "443",
            "--binary",
            "/usr/bin/curl",
        ])
        .args(["--method", "DELETE", "--path", "/bot1/x", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["decision"], "audit-deny");
    assert_eq!(json["request"]["verdict"], "audit-deny");
    assert_eq!(json["connect"]["endpoint"]["enforcement"], "audit");
}

#[test]
fn explain_method_needs_path() {
    let out = cordon()
        .args([
            "policy",
            "explain",
            "--default",
            "--host",
            "a.example.com",
            "--port",
            "443",
        ])
        .args(["--method", "GET"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
}

/// Effective uid from /proc (no unsafe, no libc).
fn euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// Runs `cordon ARGS` as uid/gid 65534 (via setpriv when we are root).
fn cordon_unprivileged(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("cordon");
    if euid() == 0 {
        StdCommand::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(args)
            .output()
            .expect("setpriv is required for the rootless policy tests (util-linux)")
    } else {
        StdCommand::new(&bin).args(args).output().unwrap()
    }
}

#[test]
fn rootless_validate_reads_a_world_readable_policy_and_not_a_private_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let public = dir.path().join("public.yaml");
    std::fs::copy(shared("valid-l7-rules.yaml"), &public).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = cordon_unprivileged(&["policy".as_ref(), "validate".as_ref(), public.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    if euid() == 0 {
        // Blocked twin: a root-only file is unreadable for uid 65534 -> one clear line.
        let private = dir.path().join("private.yaml");
        std::fs::copy(shared("valid-minimal.yaml"), &private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out =
            cordon_unprivileged(&["policy".as_ref(), "validate".as_ref(), private.as_os_str()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("Permission denied"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn show_without_a_file_prints_the_default_policy() {
    for extra in [&[][..], &["--json"][..]] {
        let plain = cordon()
            .args(["policy", "show"])
            .args(extra)
            .output()
            .unwrap();
        let default = cordon()
            .args(["policy", "show", "--default"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
        assert_eq!(stdout(&plain), stdout(&default));
    }
}

#[test]
fn validate_of_a_mixed_list_reports_each_file_and_exits_1() {
    let out = cordon()
        .args(["policy", "validate"])
        .arg(shared("valid-minimal.yaml"))
        .arg(shared("invalid-port-range.yaml"))
        .arg("/nonexistent/qa.yaml")
        .arg(shared("valid-l7-rules.yaml"))
        .arg(shared("invalid-tld-wildcard.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let valid: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(valid.len(), 2, "{valid:?}");
    assert!(valid[0].ends_with("valid-minimal.yaml: valid"));
    assert!(valid[1].ends_with("valid-l7-rules.yaml: valid"));
    let errors: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].contains("invalid-port-range.yaml:7:15: `network_policies.p.endpoints[0].port`")
    );
    assert!(errors[1].contains("/nonexistent/qa.yaml: cannot read policy file"));
    assert!(
        errors[2]
            .contains("invalid-tld-wildcard.yaml:6:15: `network_policies.tld.endpoints[0].host`")
    );
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("error: ") && e.contains("(fix: "))
    );
}

#[test]
fn odd_files_are_one_clear_problem_never_a_panic_or_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let mut garbage = vec![0xff];
    let mut x: u32 = 12345;
    for _ in 0..4096 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8 | 0x80);
    }
    let cases: Vec<(PathBuf, &str)> = vec![
        (write("empty.yaml", b""), "missing field `version`"),
        (
            write("garbage.yaml", &garbage),
            ":1:1: the file is not UTF-8",
        ),
        (dir.path().to_path_buf(), "not a directory"),
        (PathBuf::from("/dev/zero"), "larger than 4 MiB"),
        (
            write("two.yaml", b"version: 1\n---\nversion: 1\n"),
            "more than one YAML document",
        ),
        (
            write(
                "shape.yaml",
                b"version: 1\nfilesystem_policy:\n  read_only: /usr\n",
            ),
            ":3:14: `filesystem_policy.read_only`: expected a list here",
        ),
        (write("list.yaml", b"- a\n- b\n"), "must be a YAML mapping"),
    ];
    for (path, expected) in &cases {
        let out = cordon()
            .args(["policy", "validate"])
            .arg(path)
            .timeout(std::time::Duration::from_secs(30))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", path.display());
        assert_eq!(err.lines().count(), 1, "{}: {err}", path.display());
        assert!(err.contains(expected), "{}: {err}", path.display());
        assert!(!err.contains("panicked") && !err.contains("from_str_multiple"));
    }
    // `show`: a directory cannot be read (125), garbage is an invalid policy (1).
    let out = cordon()
        .args(["policy", "show"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let out = cordon()
        .args(["policy", "show"])
        .arg(dir.path().join("garbage.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn openshell_and_nemoclaw_shapes_validate() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nemoclaw.yaml");
    std::fs::write(
        &file,
        "version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only: [/usr, /lib, \
         /proc, /dev/urandom, /app, /etc, /var/log, /sandbox/.openclaw]\n  read_write: \
         [/sandbox, /tmp, /dev/null, /sandbox/.openclaw-data]\nlandlock:\n  compatibility: \
         best_effort\nprocess:\n  run_as_user: sandbox\n  run_as_group: sandbox\n\
         network_policies:\n  claude_code:\n    name: claude_code\n    endpoints:\n      \
         - host: api.anthropic.com\n        port: 443\n        protocol: rest\n        \
         enforcement: enforce\n        tls: terminate\n        rules:\n          \
         - allow: { method: \"*\", path: \"/**\" }\n    binaries:\n      \
         - { path: /usr/local/bin/claude, harness: true }\n",
    )
    .unwrap();
    let out = cordon()
        .args(["policy", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("`tls: terminate` is deprecated"), "{err}");
    assert!(
        err.contains("binaries[0].harness`: `harness` is deprecated"),
        "{err}"
    );
}

#[test]
fn explain_suggests_no_entry_that_could_not_load() {
    for (host, port, binary) in [
        ("", "443", None),
        ("a b", "443", None),
        ("api.example.com", "0", None),
        ("api.example.com", "443", Some("curl")),
    ] {
        let mut cmd = cordon();
        cmd.args([
            "policy",
            "explain",
            "--default",
            "--host",
            host,
            "--port",
            port,
        ]);
        if let Some(binary) = binary {
            cmd.args(["--binary", binary]);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with("decision: deny\n"), "{text}");
        assert!(
            !text.contains("to allow this connection"),
            "{host:?} {port}: {text}"
        );
    }
    // Twin: a real host, port and binary get a suggestion.
    let out = cordon()
        .args([
            "policy",
            "explain",
            "--default",
            "--host",
            "api.example.com",
        ])
        .args(["--port", "443", "--binary", "/usr/bin/curl"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("to allow this connection, add:"));
}
