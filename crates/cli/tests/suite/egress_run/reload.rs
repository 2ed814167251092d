//! Hot reload while one sandbox keeps running: the test edits the `--policy` file and
//! the agent's next request sees the change (allow -> deny -> allow); an invalid file and
//! a filesystem change are refused with a message on stderr and an audit line, and the
//! policy in force keeps being enforced.
//!
//! The agent is driven through its workdir: the test drops a `req` file, the agent
//! answers with one curl result in `out`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use super::server::TestServer;
use super::{audit_lines, network, policy_file, spawn_cordon};
use crate::suite::common::{MODES, WorldDir, policy_yaml};

/// How long the test waits for one answer or one reload before failing (a safety net
/// against a hung sandbox, not a timing assertion: reloads take milliseconds).
const PATIENCE: Duration = Duration::from_secs(20);

const AGENT: &str = "while [ ! -e /sandbox/stop ]; do\n  if [ -e /sandbox/req ]; then\n    \
    url=$(cat /sandbox/req); rm /sandbox/req\n    \
    curl -s -o /dev/null -w '%{http_code}' \"$url\" > /sandbox/out.tmp; mv /sandbox/out.tmp /sandbox/out\n  \
    fi\n  sleep 0.01\ndone\n";

/// Asks the agent to fetch `url` and returns the HTTP status it got.
fn ask(dir: &Path, url: &str) -> String {
    let out = dir.join("out");
    let _ = std::fs::remove_file(&out);
    let req = dir.join("req.tmp");
    std::fs::write(&req, url).unwrap();
    std::fs::rename(&req, dir.join("req")).unwrap();
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if let Ok(code) = std::fs::read_to_string(&out) {
            return code;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the agent did not answer within {PATIENCE:?}");
}

/// Asks until the answer is `want` (a reload is visible to new connections at once, but
/// the watcher debounces the file events first).
fn until(dir: &Path, url: &str, want: &str) {
    let start = Instant::now();
    let mut got = String::new();
    while start.elapsed() < PATIENCE {
        got = ask(dir, url);
        if got == want {
            return;
        }
    }
    panic!("{url}: still {got} after {PATIENCE:?}, want {want}");
}

/// Waits until the audit log holds `count` lines with `unmapped.action == action`.
fn audited(audit: &Path, action: &str, count: usize) {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        let n = audit_lines(audit)
            .iter()
            .filter(|l| l["unmapped"]["action"] == action)
            .count();
        if n >= count {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no {count} {action} lines in {}", audit.display());
}

/// Replaces the policy file the way editors do (write a temporary file, rename it).
fn save(path: &str, yaml: &str) {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn policy_edits_apply_to_a_running_sandbox_and_bad_ones_are_kept_out() {
    let api = TestServer::start("api");
    let p = api.port();
    let allow = |host: &str| policy_yaml(&[], &[], &network(&[("api", &[(host, p)], &["/**"])]));
    for mode in MODES {
        let dir = WorldDir::new(true);
        let policy_dir = WorldDir::new(true);
        let policy = policy_file(
            &policy_dir,
            "policy.yaml",
            &network(&[("api", &[("api.test", p)], &["/**"])]),
        );
        let audit = policy_dir.path().join("audit.jsonl");
        let args: Vec<OsString> = [
            "run",
            "-v",
            "--policy",
            &policy,
            "--audit",
            audit.to_str().unwrap(),
            "--workdir",
            dir.path().to_str().unwrap(),
            "--add-host",
            "api.test:127.0.0.1",
            "--add-host",
            "other.test:127.0.0.1",
            "--",
            "/bin/sh",
            "-c",
            AGENT,
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let child = spawn_cordon(mode, &args);
        let url = format!("http://api.test:{p}/");
        let wd = dir.path();
        assert_eq!(ask(wd, &url), "200", "{mode:?}");

        // allow -> deny: the entry now names another host.
        save(&policy, &allow("other.test"));
        until(wd, &url, "403");
        assert_eq!(ask(wd, &format!("http://other.test:{p}/")), "200");

        // deny -> allow.
        save(&policy, &allow("api.test"));
        until(wd, &url, "200");

        // Invalid: refused, and the policy in force is still enforced (both ways).
        save(
            &policy,
            "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - { host: api.test, port: 99999 }\n",
        );
        audited(&audit, "policy-rejected", 1);
        assert_eq!(ask(wd, &url), "200", "{mode:?}");
        assert_eq!(
            ask(wd, &format!("http://other.test:{p}/")),
            "403",
            "{mode:?}"
        );

        // A static section changed: refused as needing a restart.
        save(
            &policy,
            &policy_yaml(
                &[Path::new("/var")],
                &[],
                &network(&[("api", &[("other.test", p)], &["/**"])]),
            ),
        );
        audited(&audit, "policy-rejected", 2);
        assert_eq!(ask(wd, &url), "200", "{mode:?}");

        std::fs::write(wd.join("stop"), "").unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {stderr}");
        assert!(
            stderr.contains("generation 3 in force"),
            "{mode:?}: {stderr}"
        );
        assert!(
            stderr.contains("policy rejected, previous policy still in force"),
            "{stderr}"
        );
        assert!(
            stderr.contains("99999"),
            "the validation error is shown: {stderr}"
        );
        assert!(stderr.contains("need a sandbox restart"), "{stderr}");
        let lines = audit_lines(&audit);
        let applied = lines
            .iter()
            .filter(|l| l["unmapped"]["action"] == "policy-applied")
            .count();
        assert_eq!(applied, 2, "{mode:?}");
        let last = lines
            .iter()
            .rev()
            .find(|l| l["dst_endpoint"]["hostname"] == "api.test")
            .unwrap();
        assert_eq!(last["unmapped"]["policy_generation"], 3, "{mode:?}");
    }
}
