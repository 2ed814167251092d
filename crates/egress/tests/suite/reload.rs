//! Hot reload through the watched policy file: allow→deny and deny→allow without a
//! restart, invalid and static-section changes kept out, open tunnels re-checked.

use std::io::{Read, Write};
use std::time::Duration;

use super::common::servers::{EchoServer, HttpServer};
use super::common::{Env, compile, curl, eventually};
use super::connect::connect;

fn policy(host: &str, port: u16) -> String {
    format!(
        "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - {{ host: {host}, port: {port} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    )
}

#[test]
fn allow_to_deny_and_back_without_restart() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let mut env = Env::start(
        &policy("api.test", p),
        &["api.test:127.0.0.1", "other.test:127.0.0.1"],
    );
    env.watch();
    let url = format!("http://api.test:{p}/");
    assert_eq!(curl(&env, &[&url]).0, 200);

    env.write_policy(&policy("other.test", p));
    assert!(
        eventually(|| curl(&env, &[&url]).0 == 403),
        "allow→deny reload not applied"
    );
    assert_eq!(curl(&env, &[&format!("http://other.test:{p}/")]).0, 200);

    env.write_policy(&policy("api.test", p));
    assert!(
        eventually(|| curl(&env, &[&url]).0 == 200),
        "deny→allow reload not applied"
    );
    assert_eq!(env.proxy().stats().generation, 3);
    let applied: Vec<_> = env
        .audit_lines()
        .into_iter()
        .filter(|l| l["unmapped"]["action"] == "policy-applied")
        .collect();
    assert_eq!(applied.len(), 2);
    // Every decision line names the generation that made it.
    let last = env.audit_for("api.test", 1).pop().unwrap();
    assert_eq!(last["unmapped"]["policy_generation"], 3);
}

#[test]
fn invalid_policy_is_rejected_and_the_old_one_keeps_running() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let mut env = Env::start(&policy("api.test", p), &["api.test:127.0.0.1"]);
    env.watch();
    let url = format!("http://api.test:{p}/");
    env.write_policy("version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - { host: api.test, port: 99999 }\n");
    assert!(
        eventually(|| env
            .audit_lines()
            .iter()
            .any(|l| l["unmapped"]["action"] == "policy-rejected")),
        "no rejection audited: {} {:?} {:?}",
        env.raw_text(),
        env.proxy().stats(),
        std::fs::read_dir(env.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>()
    );
    let rejected = env
        .audit_lines()
        .into_iter()
        .find(|l| l["unmapped"]["action"] == "policy-rejected")
        .unwrap();
    let message = rejected["message"].as_str().unwrap();
    assert!(
        message.contains("previous policy still in force"),
        "{message}"
    );
    assert!(message.contains("port"), "{message}");
    assert_eq!(curl(&env, &[&url]).0, 200, "old policy must still allow");
    assert_eq!(env.proxy().stats().generation, 1);

    // A valid policy that changes a static section is refused too.
    env.write_policy(&format!(
        "{}filesystem_policy:\n  read_write: [/tmp, /var/tmp]\n",
        policy("api.test", p)
    ));
    assert!(eventually(|| env.audit_lines().iter().any(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.contains("filesystem_policy") && m.contains("restart"))
    })));
    assert_eq!(env.proxy().stats().generation, 1);

    // Twin: a valid network change is applied.
    env.write_policy(&format!("{}  # edited\n", policy("api.test", p)));
    assert!(eventually(|| env.proxy().stats().generation == 2));
}

#[test]
fn open_tunnel_is_closed_when_a_reload_denies_its_destination() {
    let echo = EchoServer::start();
    let port = echo.addr.port();
    let env = Env::start(
        &policy("api.test", port),
        &["api.test:127.0.0.1", "other.test:127.0.0.1"],
    );

    let (mut kept, head) = connect(&env, &format!("api.test:{port}"), b"");
    assert!(head.starts_with("HTTP/1.1 200"));
    let (mut closed, head) = connect(&env, &format!("api.test:{port}"), b"");
    assert!(head.starts_with("HTTP/1.1 200"));

    // A reload that still allows the destination leaves tunnels alone.
    let still = format!(
        "{}  other:\n    endpoints:\n      - {{ host: other.test, port: {port} }}\n    binaries:\n      - {{ path: \"/**\" }}\n",
        policy("api.test", port)
    );
    env.proxy().reload(compile(&still));
    kept.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    kept.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    drop(kept);

    // A reload that denies it closes the rest.
    env.proxy().reload(compile(&policy("other.test", port)));
    closed
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let n = closed.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0, "the tunnel must be closed, not echo");
    let lines = env.audit_for("api.test", 2);
    assert!(
        lines.iter().any(|l| l["status_detail"]
            .as_str()
            .is_some_and(|d| d.contains("policy generation 3 no longer allows"))),
        "{lines:?}"
    );
}
