//! Real clients through the proxy: curl, python3 urllib, `git clone` over dumb HTTP and
//! node reach allowed hosts and get a 403 JSON denial for others; a binary the entry does
//! not list is refused on an allowed host; `enforcement: audit` passes and logs; a program
//! that ignores the proxy variables has no way out; a binary swapped after first use is
//! refused; the audit file and the `-v` summary say what happened.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use super::server::TestServer;
use super::{audit_lines, curl_line, decisions_for, denial, network, policy_file, result};
use crate::suite::common::{MODES, Mode, WorldDir, cordon, require};

/// urllib GET/POST printing `LABEL STATUS BODY` (or `LABEL error KIND`).
const GET_PY: &str = r#"import sys, urllib.request, urllib.error
label, url = sys.argv[1], sys.argv[2]
method = sys.argv[3] if len(sys.argv) > 3 else "GET"
try:
    r = urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=20)
    print(label, r.status, r.read().decode().strip())
except urllib.error.HTTPError as e:
    print(label, e.code, e.read().decode().strip())
except Exception as e:
    print(label, "error", type(e).__name__)
"#;

/// node 20: `http.request` sent to the proxy named by HTTP_PROXY (absolute-form), then
/// the built-in `fetch`, which ignores proxy variables (node < 24) and must find no way
/// out.
const NODE_JS: &str = r#"const http = require('http');
const [host, port] = process.argv.slice(2);
const proxy = new URL(process.env.HTTP_PROXY);
function viaFetch() {
  fetch(`http://${host}:${port}/fetch`)
    .then(r => console.log('node_fetch', r.status))
    .catch(e => console.log('node_fetch failed', (e.cause && e.cause.code) || e.name));
}
const req = http.request({ host: proxy.hostname, port: proxy.port, path: `http://${host}:${port}/node`,
  headers: { Host: `${host}:${port}` } }, res => {
  let body = '';
  res.on('data', d => body += d);
  res.on('end', () => { console.log('node_proxy', res.statusCode, body.trim()); viaFetch(); });
});
req.on('error', e => { console.log('node_proxy error', e.code); viaFetch(); });
req.end();
"#;

/// A program that ignores the proxy variables and dials directly.
const DIRECT_PY: &str = r#"import socket, sys
for label, addr in [("direct_loopback", ("127.0.0.1", int(sys.argv[1]))), ("direct_remote", ("192.0.2.1", 80))]:
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(addr)
        print(label, "connected")
    except OSError as e:
        print(label, "failed", e.errno)
"#;

/// A bare git repository with one commit, prepared for dumb HTTP.
fn git_repo(dir: &WorldDir) -> std::path::PathBuf {
    require("git");
    let root = dir.path().join("git");
    let work = dir.path().join("work");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.email=t@t",
                "-c",
                "user.name=t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    let (root_s, work_s) = (root.to_str().unwrap(), work.to_str().unwrap());
    git(&["init", "-q", "--bare", &format!("{root_s}/repo.git")]);
    git(&["init", "-q", work_s]);
    std::fs::write(work.join("README"), "cloned-through-the-proxy\n").unwrap();
    git(&["-C", work_s, "add", "README"]);
    git(&["-C", work_s, "commit", "-qm", "one"]);
    git(&[
        "-C",
        work_s,
        "push",
        "-q",
        &format!("{root_s}/repo.git"),
        "HEAD:main",
    ]);
    git(&["-C", &format!("{root_s}/repo.git"), "update-server-info"]);
    root
}

#[test]
fn clients_reach_allowed_hosts_and_get_403_json_for_denied_ones() {
    for tool in ["curl", "/usr/bin/python3", "node"] {
        require(tool);
    }
    let api = TestServer::start("api");
    let p = api.port();
    let repo_dir = WorldDir::new(false);
    let git = TestServer::files("git", &git_repo(&repo_dir));
    let g = git.port();
    for mode in MODES {
        let dir = WorldDir::new(true);
        let audit = dir.path().join("audit.jsonl");
        // Capture off: this test is about the proxy path, and shows that a program
        // ignoring the proxy variables has no way out then (transparent.rs tests the
        // default, where such programs are captured and decided by the policy).
        let mut net = String::from("network_settings:\n  transparent: false\n");
        net += &network(&[
            ("api", &[("api.test", p)], &["/**"]),
            ("git", &[("git.test", g)], &["/**"]),
            ("curl_only", &[("curl-only.test", p)], &["/usr/bin/curl"]),
            // The OpenShell way: the link users type; the kernel reports its target.
            ("py_link", &[("py-link.test", p)], &["/usr/bin/python3"]),
        ]);
        net.push_str(&format!(
            "  rest:\n    endpoints:\n      - {{ host: ro.test, port: {p}, protocol: rest, access: read-only }}\n      \
             - {{ host: audited.test, port: {p}, protocol: rest, access: read-only, enforcement: audit }}\n    \
             binaries:\n      - {{ path: \"/**\" }}\n"
        ));
        let policy = policy_file(&dir, "policy.yaml", &net);
        dir.file("get.py", GET_PY);
        dir.file("n.js", NODE_JS);
        dir.file("direct.py", DIRECT_PY);
        let mut script = String::new();
        script.push_str(&curl_line(
            "curl_allowed",
            &format!("'http://api.test:{p}/hello?token=TOPSECRET'"),
        ));
        script.push_str(&curl_line("curl_denied", &format!("http://evil.test:{p}/")));
        script.push_str(&format!(
            "python3 get.py py_allowed http://api.test:{p}/py\npython3 get.py py_denied http://evil.test:{p}/py\n"
        ));
        script.push_str(&format!(
            "git clone -q http://git.test:{g}/repo.git /tmp/clone 2>/tmp/git.err && echo \"git_clone $(cat /tmp/clone/README)\" || echo \"git_clone failed $(cat /tmp/git.err)\"\n"
        ));
        script.push_str(&format!("node n.js api.test {p}\n"));
        script.push_str(&curl_line(
            "curl_only_curl",
            &format!("http://curl-only.test:{p}/"),
        ));
        script.push_str(&format!(
            "python3 get.py curl_only_py http://curl-only.test:{p}/\n"
        ));
        script.push_str(&format!(
            "python3 get.py py_link http://py-link.test:{p}/link\n"
        ));
        script.push_str(&curl_line(
            "py_link_curl",
            &format!("http://py-link.test:{p}/"),
        ));
        script.push_str(&curl_line(
            "rest_post_enforced",
            &format!("-X POST http://ro.test:{p}/x"),
        ));
        script.push_str(&curl_line(
            "rest_get_enforced",
            &format!("http://ro.test:{p}/x"),
        ));
        script.push_str(&curl_line(
            "rest_post_audited",
            &format!("-X POST http://audited.test:{p}/x"),
        ));
        script.push_str(&format!("python3 direct.py {p}\n"));
        script.push_str(&curl_line(
            "curl_noproxy",
            &format!("--noproxy '*' http://api.test:{p}/"),
        ));
        let mut args = vec![
            "run".to_string(),
            "-v".into(),
            "--policy".into(),
            policy,
            "--audit".into(),
            audit.display().to_string(),
            "--workdir".into(),
            dir.path().display().to_string(),
        ];
        for host in [
            "api.test",
            "git.test",
            "curl-only.test",
            "py-link.test",
            "evil.test",
            "ro.test",
            "audited.test",
        ] {
            args.push("--add-host".into());
            args.push(format!("{host}:127.0.0.1"));
        }
        args.extend(["--".into(), "/bin/sh".into(), "-c".into(), script]);
        let run = cordon(mode, &args).run();
        let out = run.ok();
        let ctx = format!("{mode:?}: {run:#?}");

        assert_eq!(result(out, "curl_allowed"), "200 api GET /hello", "{ctx}");
        let denied = denial(result(out, "curl_denied"));
        assert_eq!(denied["error"], "policy_denied", "{ctx}");
        assert_eq!(denied["host"], "evil.test");
        assert_eq!(denied["port"], p);
        assert_eq!(denied["binary"], "/usr/bin/curl");
        assert!(
            denied["hint"].as_str().unwrap().contains("evil.test"),
            "{denied}"
        );

        assert_eq!(result(out, "py_allowed"), "200 api GET /py", "{ctx}");
        assert_eq!(
            denial(result(out, "py_denied"))["host"],
            "evil.test",
            "{ctx}"
        );
        assert_eq!(
            result(out, "git_clone"),
            "cloned-through-the-proxy",
            "{ctx}"
        );
        assert_eq!(result(out, "node_proxy"), "200 api GET /node", "{ctx}");
        // node 20's fetch ignores HTTP_PROXY: it tries DNS itself, which has no way out.
        assert!(result(out, "node_fetch").starts_with("failed"), "{ctx}");

        // Denied binary: the entry allows curl only; python3 is refused on the same host.
        assert_eq!(result(out, "curl_only_curl"), "200 api GET /", "{ctx}");
        let py = serde_json::from_str::<serde_json::Value>(
            result(out, "curl_only_py").strip_prefix("403 ").unwrap(),
        )
        .unwrap();
        assert!(
            py["binary"]
                .as_str()
                .unwrap()
                .starts_with("/usr/bin/python3"),
            "{py}"
        );
        assert!(py["reason"].as_str().unwrap().contains("binary"), "{py}");
        // An entry listing the symlink /usr/bin/python3 admits the file it leads to;
        // curl, on the same host, stays refused.
        assert_eq!(result(out, "py_link"), "200 api GET /link", "{ctx}");
        assert!(result(out, "py_link_curl").starts_with("403 "), "{ctx}");

        // L7 on plain HTTP: read-only refuses POST; the audit-enforced twin passes it.
        assert!(
            result(out, "rest_post_enforced").starts_with("403 "),
            "{ctx}"
        );
        assert_eq!(result(out, "rest_get_enforced"), "200 api GET /x", "{ctx}");
        assert_eq!(result(out, "rest_post_audited"), "200 api POST /x", "{ctx}");

        // Ignoring the proxy: nothing listens on the sandbox's own loopback, nothing else
        // routes, and names do not resolve.
        assert_eq!(result(out, "direct_loopback"), "failed 111", "{ctx}");
        assert_eq!(result(out, "direct_remote"), "failed 101", "{ctx}");
        assert!(result(out, "curl_noproxy").starts_with("000"), "{ctx}");

        check_audit(mode, &audit, p, &run.stderr);
    }
}

/// The audit file: one line per decision, the right actions, binaries and reasons, no
/// query string; the `-v` summary agrees with it.
fn check_audit(mode: Mode, audit: &std::path::Path, p: u16, stderr: &str) {
    let lines = audit_lines(audit);
    let api = decisions_for(&lines, "api.test");
    let curl = api
        .iter()
        .find(|l| l["actor"]["process"]["file"]["path"] == "/usr/bin/curl")
        .unwrap_or_else(|| panic!("{mode:?}: no curl line for api.test: {api:#?}"));
    assert_eq!(curl["unmapped"]["action"], "allow");
    assert_eq!(curl["http_request"]["url"]["path"], "/hello");
    assert_eq!(curl["dst_endpoint"]["port"], p);
    assert_eq!(curl["dst_endpoint"]["ip"], "127.0.0.1");
    assert_eq!(curl["unmapped"]["policy_generation"], 1);
    assert_eq!(curl["policy"]["name"], "api");
    let evil = decisions_for(&lines, "evil.test");
    assert!(!evil.is_empty() && evil.iter().all(|l| l["unmapped"]["action"] == "deny"));
    let audited = decisions_for(&lines, "audited.test");
    assert_eq!(
        audited[0]["unmapped"]["action"], "audit-deny",
        "{audited:#?}"
    );
    let curl_only = decisions_for(&lines, "curl-only.test");
    assert!(curl_only.iter().any(|l| l["unmapped"]["action"] == "allow"));
    assert!(curl_only.iter().any(|l| {
        l["unmapped"]["action"] == "deny"
            && l["actor"]["process"]["file"]["path"]
                .as_str()
                .is_some_and(|b| b.starts_with("/usr/bin/python3"))
    }));
    let text = std::fs::read_to_string(audit).unwrap();
    assert!(
        !text.contains("TOPSECRET"),
        "a query string reached the audit log"
    );
    let allowed = lines
        .iter()
        .filter(|l| l["unmapped"]["action"] == "allow")
        .count();
    let denied = lines
        .iter()
        .filter(|l| l["unmapped"]["action"] == "deny")
        .count();
    let summary = format!("cordon: egress: {allowed} allowed, {denied} denied");
    assert!(
        stderr.contains(&summary),
        "{mode:?}: want {summary:?} in {stderr}"
    );
}

#[test]
fn a_binary_swapped_after_first_use_is_refused() {
    let api = TestServer::start("api");
    let p = api.port();
    for mode in MODES {
        let dir = WorldDir::new(true);
        let policy = policy_file(
            &dir,
            "policy.yaml",
            &network(&[("tool", &[("api.test", p)], &["/sandbox/tool"])]),
        );
        let url = format!("http://api.test:{p}/");
        let script = format!(
            "cp /usr/bin/curl /sandbox/tool\n{}cp /usr/bin/curl /sandbox/tool2\necho changed >> /sandbox/tool2\n\
             mv /sandbox/tool2 /sandbox/tool\n{}",
            curl_line("first", &url).replace("curl -sS", "/sandbox/tool -sS"),
            curl_line("swapped", &url).replace("curl -sS", "/sandbox/tool -sS"),
        );
        let run = cordon(
            mode,
            [
                "run",
                "--policy",
                &policy,
                "--workdir",
                dir.path().to_str().unwrap(),
                "--add-host",
                "api.test:127.0.0.1",
                "--",
                "/bin/sh",
                "-c",
                &script,
            ],
        )
        .run();
        let out = run.ok();
        // Twin: the first use of the path is trusted.
        assert_eq!(result(out, "first"), "200 api GET /", "{mode:?}: {run:#?}");
        let swapped = denial(result(out, "swapped"));
        assert_eq!(swapped["binary"], "/sandbox/tool", "{mode:?}: {swapped}");
    }
}
