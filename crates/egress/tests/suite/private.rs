//! A wildcard endpoint reaching a private address because `allowed_ips` lists it — the
//! one allowed path to an internal address that is not an exact name. Loopback can
//! never be listed in `allowed_ips`, so this runs in a network namespace the test
//! creates (`unshare -rn`, rootless), where a private address is put on `lo`.

use std::process::Command;

use serde_json::Value;

use super::common::servers::HttpServer;
use super::common::{Env, curl, rerun_inside, run, tool};

#[test]
fn wildcard_with_allowed_ips_reaches_a_private_address() {
    if !rerun_inside(
        "CORDON_EGRESS_TEST_INSIDE_NETNS",
        "suite::private::wildcard_with_allowed_ips_reaches_a_private_address",
        &["unshare", "-rn"],
    ) {
        return;
    }
    for args in [
        &["link", "set", "lo", "up"][..],
        &["addr", "add", "10.77.0.1/32", "dev", "lo"],
    ] {
        let out = run(Command::new(tool("ip")).args(args));
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    }
    let srv = HttpServer::start("private", "10.77.0.1:0");
    let p = srv.port();
    let policy = format!(
        "version: 1\nnetwork_policies:\n  listed:\n    endpoints:\n      - {{ host: \"*.wild.test\", port: {p}, allowed_ips: [\"10.77.0.0/24\"] }}\n      - {{ host: \"*.unlisted.test\", port: {p} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    );
    let env = Env::start(
        &policy,
        &["a.wild.test:10.77.0.1", "a.unlisted.test:10.77.0.1"],
    );
    assert_eq!(
        curl(&env, &[&format!("http://a.wild.test:{p}/")]),
        (200, "private GET / len=0\n".into())
    );
    assert_eq!(
        curl(&env, &["-p", &format!("http://a.wild.test:{p}/t")]).0,
        200
    );
    let (code, body) = curl(&env, &[&format!("http://a.unlisted.test:{p}/")]);
    assert_eq!(code, 403);
    let reason = serde_json::from_str::<Value>(&body).unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("10.77.0.1 is a private-network address"),
        "{reason}"
    );
}
