//! Binary identity (host scope): `binaries` globs decide which programs may reach a
//! host, and a binary swapped after its first use is refused.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

use super::common::servers::HttpServer;
use super::common::{Env, curl, curl_with, run, tool};

#[test]
fn host_allowed_for_curl_is_denied_to_python() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let policy = format!(
        "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - {{ host: api.test, port: {p} }}\n    binaries:\n      - {{ path: /usr/bin/curl }}\n"
    );
    let env = Env::start(&policy, &["api.test:127.0.0.1"]);
    assert_eq!(curl(&env, &[&format!("http://api.test:{p}/")]).0, 200);
    let script = format!(
        "import urllib.request, urllib.error, sys\ntry:\n    urllib.request.urlopen('http://api.test:{p}/')\nexcept urllib.error.HTTPError as e:\n    sys.stdout.write(str(e.code) + ' ' + e.read().decode())\n"
    );
    let out = run(Command::new(tool("python3"))
        .args(["-c", &script])
        .env("http_proxy", env.proxy_url()));
    let text = String::from_utf8_lossy(&out.stdout);
    let (code, body) = text
        .split_once(' ')
        .unwrap_or_else(|| panic!("python said {text:?} {out:?}"));
    assert_eq!(code, "403");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        v["reason"],
        "an endpoint matches host and port but its entry does not list this binary"
    );
    assert!(
        v["binary"]
            .as_str()
            .unwrap()
            .starts_with("/usr/bin/python3"),
        "{v}"
    );
    let line = env
        .audit_for("api.test", 2)
        .into_iter()
        .find(|l| l["unmapped"]["action"] == "deny")
        .unwrap();
    assert!(line["actor"]["process"]["pid"].is_u64());
    assert_eq!(line["policy"]["name"], "api");
}

#[test]
fn binary_swapped_after_first_use_is_refused() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let bin_dir = tempfile::tempdir().unwrap();
    let tool_path = bin_dir.path().join("fetch-tool");
    std::fs::copy(tool("curl"), &tool_path).unwrap();
    std::fs::set_permissions(&tool_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let policy = format!(
        "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - {{ host: api.test, port: {p} }}\n    binaries:\n      - {{ path: {} }}\n",
        tool_path.display()
    );
    let env = Env::start(&policy, &["api.test:127.0.0.1"]);
    // First use: trusted, and again while unchanged.
    assert_eq!(
        curl_with(&tool_path, &env, &[&format!("http://api.test:{p}/")]).0,
        200
    );
    assert_eq!(
        curl_with(&tool_path, &env, &[&format!("http://api.test:{p}/")]).0,
        200
    );

    // Same path, other contents (wget): refused.
    std::fs::copy(tool("wget"), &tool_path).unwrap();
    let out = run(Command::new(&tool_path)
        .args([
            "-q",
            "-O",
            "-",
            "--content-on-error",
            &format!("http://api.test:{p}/"),
        ])
        .env("http_proxy", env.proxy_url()));
    assert!(!out.status.success());
    let body = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(v["error"], "policy_denied");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("changed since its first use"),
        "{v}"
    );

    let lines = env.audit_for("api.test", 3);
    let refusal = lines
        .iter()
        .find(|l| l["unmapped"]["action"] == "deny")
        .unwrap();
    assert_eq!(refusal["severity"], "High");
    assert_eq!(
        refusal["actor"]["process"]["file"]["path"],
        tool_path.to_str().unwrap()
    );
    let first = lines[0]["actor"]["process"]["file"]["hashes"][0]["value"]
        .as_str()
        .unwrap();
    let now = refusal["actor"]["process"]["file"]["hashes"][0]["value"]
        .as_str()
        .unwrap();
    assert_ne!(first, now);
}
