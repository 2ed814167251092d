//! SSRF: internal addresses reached through names the operator did not write exactly,
//! metadata addresses, loopback ports outside the policy, IPv6 and IPv4-mapped forms.
//! Every refusal has an allowed twin on the same mechanism.

use serde_json::Value;

use super::common::servers::HttpServer;
use super::common::{Env, curl};
use super::forward::any_binary;

fn reason(env: &Env, url: &str) -> String {
    let (code, body) = curl(env, &[url]);
    assert_eq!(code, 403, "{url}: {body}");
    serde_json::from_str::<Value>(&body).unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn metadata_address_is_refused_literal_and_by_name() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let policy = any_binary(&format!(
        "  wild:\n    endpoints:\n      - {{ host: \"*.wild.test\", port: 80 }}\n      - {{ host: exact.test, port: {p} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ));
    let env = Env::start(
        &policy,
        &["meta.wild.test:169.254.169.254", "exact.test:127.0.0.1"],
    );
    // Literal: no entry names it.
    assert_eq!(
        reason(&env, "http://169.254.169.254/latest/meta-data/"),
        "no network_policies endpoint matches this host"
    );
    // By a wildcard-matched name: the policy matches, the address check refuses.
    let why = reason(&env, "http://meta.wild.test/latest/meta-data/");
    assert!(
        why.contains("169.254.169.254 is a cloud metadata address"),
        "{why}"
    );
    // Twin: an exact name written by the operator reaches its internal address.
    assert_eq!(curl(&env, &[&format!("http://exact.test:{p}/")]).0, 200);
}

#[test]
fn loopback_port_outside_the_policy_is_refused() {
    let allowed = HttpServer::start("allowed", "127.0.0.1:0");
    let other = HttpServer::start("other", "127.0.0.1:0");
    let policy = any_binary(&format!(
        "  local:\n    endpoints:\n      - {{ host: 127.0.0.1, port: {} }}\n    binaries:\n      - {{ path: \"/**\" }}\n",
        allowed.port()
    ));
    let env = Env::start(&policy, &[]);
    assert_eq!(
        curl(&env, &[&format!("http://127.0.0.1:{}/", allowed.port())]).0,
        200
    );
    assert_eq!(
        reason(&env, &format!("http://127.0.0.1:{}/", other.port())),
        "an endpoint matches this host but not this port"
    );
    // Through a tunnel too.
    let (code, _) = curl(
        &env,
        &["-p", &format!("http://127.0.0.1:{}/", other.port())],
    );
    assert_ne!(code, 200);
    assert_eq!(
        curl(
            &env,
            &["-p", &format!("http://127.0.0.1:{}/", allowed.port())]
        )
        .0,
        200
    );
}

#[test]
fn wildcard_name_resolving_to_loopback_is_refused() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let policy = any_binary(&format!(
        "  svc:\n    endpoints:\n      - {{ host: \"*.svc.test\", port: {p} }}\n      - {{ host: api.svc2.test, port: {p} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ));
    let env = Env::start(
        &policy,
        &["rebind.svc.test:127.0.0.1", "api.svc2.test:127.0.0.1"],
    );
    let why = reason(&env, &format!("http://rebind.svc.test:{p}/"));
    assert!(why.contains("127.0.0.1 is loopback"), "{why}");
    let (code, _) = curl(&env, &["-p", &format!("http://rebind.svc.test:{p}/")]);
    assert_ne!(code, 200);
    // Twin: the exact name to the same address works.
    assert_eq!(curl(&env, &[&format!("http://api.svc2.test:{p}/")]).0, 200);
}

#[test]
fn ipv6_loopback_is_refused_unless_written_exactly() {
    let v6 = HttpServer::start("v6", "[::1]:0");
    let p = v6.port();
    let policy = any_binary(&format!(
        "  v6:\n    endpoints:\n      - {{ host: \"::1\", port: {p} }}\n      - {{ host: \"*.six.test\", port: {p} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ));
    let env = Env::start(&policy, &["lo.six.test:::1"]);
    assert_eq!(
        curl(&env, &[&format!("http://[::1]:{p}/")]),
        (200, "v6 GET / len=0\n".into())
    );
    let why = reason(&env, &format!("http://lo.six.test:{p}/"));
    assert!(why.contains("::1 is loopback"), "{why}");
    assert_eq!(
        reason(&env, &format!("http://[::1]:{}/", p.wrapping_add(1).max(1))),
        "an endpoint matches this host but not this port"
    );
}

#[test]
fn ipv4_mapped_ipv6_is_judged_as_ipv4() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let other = HttpServer::start("other", "127.0.0.1:0");
    let p = srv.port();
    let policy = any_binary(&format!(
        "  local:\n    endpoints:\n      - {{ host: 127.0.0.1, port: {p} }}\n      - {{ host: \"*.mapped.test\", port: {p} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ));
    let env = Env::start(&policy, &["m.mapped.test:::ffff:127.0.0.1"]);
    // The mapped literal is 127.0.0.1: allowed on the allowed port...
    assert_eq!(
        curl(&env, &[&format!("http://[::ffff:127.0.0.1]:{p}/")]).0,
        200
    );
    // ...and refused on another, like 127.0.0.1 itself.
    assert_eq!(
        reason(
            &env,
            &format!("http://[::ffff:127.0.0.1]:{}/", other.port())
        ),
        "an endpoint matches this host but not this port"
    );
    // A name pinned to the mapped form is loopback.
    let why = reason(&env, &format!("http://m.mapped.test:{p}/"));
    assert!(why.contains("127.0.0.1 is loopback"), "{why}");
}

#[test]
fn unspecified_address_is_never_a_destination() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let policy = any_binary(&format!(
        "  svc:\n    endpoints:\n      - {{ host: zero.test, port: {p} }}\n      - {{ host: fine.test, port: {p} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ));
    // 0.0.0.0 reaches the local host on Linux: refused even for an exact name.
    let env = Env::start(&policy, &["zero.test:0.0.0.0", "fine.test:127.0.0.1"]);
    let why = reason(&env, &format!("http://zero.test:{p}/"));
    assert!(why.contains("never a valid destination"), "{why}");
    assert_eq!(curl(&env, &[&format!("http://fine.test:{p}/")]).0, 200);
}

#[test]
fn one_internal_answer_taints_a_name() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let policy = any_binary(&format!(
        "  svc:\n    endpoints:\n      - {{ host: \"*.mix.test\", port: {p} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ));
    // A rebinding resolver answering a public and a loopback address.
    let env = Env::start(
        &policy,
        &["a.mix.test:93.184.216.34", "a.mix.test:127.0.0.1"],
    );
    let why = reason(&env, &format!("http://a.mix.test:{p}/"));
    assert!(why.contains("127.0.0.1 is loopback"), "{why}");
}
