//! The audit log as the proxy writes it: one OCSF-shaped line per decision, the right
//! moment (denials at decision, tunnels at close, requests after their response), no
//! query strings, counters for the summary line.

use super::common::servers::HttpServer;
use super::common::{Env, curl};
use super::forward::any_binary;

#[test]
fn forwarded_requests_are_audited_with_status_and_without_query() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let policy = any_binary(&format!(
        "  api:\n    endpoints:\n      - {{ host: api.test, port: {p} }}\n    binaries:\n      - {{ path: /usr/bin/curl }}\n"
    ));
    let env = Env::start(&policy, &["api.test:127.0.0.1", "evil.test:127.0.0.1"]);
    assert_eq!(
        curl(
            &env,
            &[&format!(
                "http://api.test:{p}/v1/items?api_key=TOPSECRET&user=me"
            )]
        )
        .0,
        200
    );
    assert_eq!(
        curl(
            &env,
            &[
                "-H",
                "Authorization: Bearer TOKENVALUE",
                &format!("http://evil.test:{p}/x?k=TOPSECRET2")
            ]
        )
        .0,
        403
    );

    let allowed = env.audit_for("api.test", 1).remove(0);
    assert_eq!(allowed["class_uid"], 4002);
    assert_eq!(allowed["activity_name"], "Get");
    assert_eq!(allowed["http_request"]["url"]["path"], "/v1/items");
    assert_eq!(allowed["http_response"]["code"], 200);
    assert_eq!(allowed["container"]["name"], "test-sandbox");
    assert_eq!(allowed["unmapped"]["sandbox"], "test-sandbox");
    assert!(allowed["traffic"]["bytes_in"].as_u64().unwrap() > 0);
    assert!(allowed["time"].as_u64().unwrap() >= allowed["start_time"].as_u64().unwrap());

    let denied = env.audit_for("evil.test", 1).remove(0);
    assert_eq!(denied["action"], "Denied");
    assert_eq!(denied["unmapped"]["action"], "deny");
    assert_eq!(
        denied["status_detail"],
        "no network_policies endpoint matches this host"
    );

    let text = env.raw_text();
    for secret in ["TOPSECRET", "TOKENVALUE", "api_key"] {
        assert!(!text.contains(secret), "{secret} leaked into the audit log");
    }
    let stats = env.proxy().stats();
    assert_eq!((stats.decisions.allowed, stats.decisions.denied), (1, 1));
    assert_eq!(
        stats.decisions.summary_line(),
        "cordon: egress: 1 allowed, 1 denied"
    );
}

#[test]
fn shutdown_closes_tunnels_and_writes_their_lines() {
    let echo = super::common::servers::EchoServer::start();
    let port = echo.addr.port();
    let policy = any_binary(&format!(
        "  api:\n    endpoints:\n      - {{ host: api.test, port: {port} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ));
    let mut env = Env::start(&policy, &["api.test:127.0.0.1"]);
    let (_tunnel, head) = super::connect::connect(&env, &format!("api.test:{port}"), b"");
    assert!(head.starts_with("HTTP/1.1 200"));
    let proxy = env.proxy.take().unwrap();
    let stats = env.rt.block_on(proxy.shutdown());
    assert_eq!(stats.active_connections, 0);
    env.audit.as_ref().unwrap().sink().flush();
    let text = std::fs::read_to_string(&env.audit_path).unwrap();
    assert!(text.contains("closed: proxy shutting down"), "{text}");
}
