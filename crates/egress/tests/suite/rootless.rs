//! The proxy needs no privileges: run unprivileged (uid 65534), it still identifies
//! its callers (their /proc entries are its own user's), trusts binaries on first use,
//! and enforces the policy.

use std::os::unix::fs::PermissionsExt;

use super::common::servers::HttpServer;
use super::common::{Env, curl, curl_with, rerun_inside, tool};

#[test]
fn proxy_works_unprivileged() {
    if !rerun_inside(
        "CORDON_EGRESS_TEST_ROOTLESS",
        "suite::rootless::proxy_works_unprivileged",
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
    ) {
        return;
    }
    assert_ne!(
        rustix::process::geteuid().as_raw(),
        0,
        "must run unprivileged"
    );
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
    let env = Env::start(&policy, &["api.test:127.0.0.1", "evil.test:127.0.0.1"]);
    assert_eq!(
        curl_with(&tool_path, &env, &[&format!("http://api.test:{p}/")]).0,
        200
    );
    assert_eq!(
        curl_with(&tool_path, &env, &[&format!("http://evil.test:{p}/")]).0,
        403
    );
    // Identity works unprivileged: the same host is refused to another binary.
    assert_eq!(curl(&env, &[&format!("http://api.test:{p}/")]).0, 403);
    let lines = env.audit_for("api.test", 2);
    assert_eq!(
        lines[0]["actor"]["process"]["file"]["path"],
        tool_path.to_str().unwrap()
    );
    assert!(lines[0]["actor"]["process"]["file"]["hashes"][0]["value"].is_string());
}
