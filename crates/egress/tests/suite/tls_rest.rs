//! HTTPS through the proxy to an inspected (`protocol: rest`) endpoint: the proxy
//! terminates TLS with a leaf from the sandbox CA, decides every request, and talks
//! to the origin over TLS verified against the origin's own CA.

use std::process::Command;

use cordon_egress::tls::UpstreamTls;
use serde_json::Value;

use super::common::servers::HttpServer;
use super::common::{curl, run, tool};
use super::tls_support::{Origin, curl_https, http_lines, python_json, start, start_with_upstream};

fn policy(port: u16) -> String {
    format!(
        r#"
version: 1
network_policies:
  api:
    endpoints:
      - host: api.test
        port: {port}
        protocol: rest
        rules:
          - allow: {{method: GET, path: "/repos/**"}}
          - allow: {{method: POST, path: "/bot*/**"}}
          - allow: {{method: GET, path: "/search", query: {{q: "cordon-*"}}}}
        deny_rules:
          - {{method: GET, path: "/repos/*/secrets/**"}}
      - host: audit.test
        port: {port}
        protocol: rest
        enforcement: audit
        rules:
          - allow: {{method: GET, path: "/**"}}
    binaries:
      - {{path: "/**"}}
"#
    )
}

#[test]
fn get_allowed_and_post_denied_on_one_host() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let url = format!("https://api.test:{}/repos/cordon/main", origin.port());

    let (code, body, _, err) = curl_https(&env, &trust.sandbox_ca, &[&url]);
    assert_eq!(code, 200, "{body} {err}");
    assert_eq!(body, "origin /repos/cordon/main len=0");

    let (code, body, _, _) =
        curl_https(&env, &trust.sandbox_ca, &["-X", "POST", "-d", "x=1", &url]);
    assert_eq!(code, 403, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "policy_denied");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/repos/cordon/main");
    assert_eq!(v["entry"], "api");
    assert!(
        v["hint"]
            .as_str()
            .unwrap()
            .contains("- allow: {method: POST, path: \"/repos/cordon/main\"}"),
        "{v}"
    );

    // The origin saw the GET only.
    let seen = origin.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("GET /repos/cordon/main"), "{seen:?}");

    let gets = http_lines(&env, "api.test", "GET", 1);
    let get = &gets[0];
    assert_eq!(get["unmapped"]["action"], "allow");
    assert_eq!(get["http_request"]["url"]["path"], "/repos/cordon/main");
    assert_eq!(
        get["http_request"]["url"]["scheme"], "https",
        "read inside TLS: {get}"
    );
    assert_eq!(get["http_response"]["code"], 200);
    assert!(
        get["status_detail"].as_str().unwrap().contains("rules[0]"),
        "{get}"
    );
    let posts = http_lines(&env, "api.test", "POST", 1);
    assert_eq!(posts[0]["unmapped"]["action"], "deny");
    assert_eq!(posts[0]["http_response"]["code"], 403);
    assert_eq!(posts[0]["policy"]["name"], "api");
}

#[test]
fn python_urllib_works_through_the_inspecting_proxy() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let script = r#"
import json, ssl, sys, urllib.request, urllib.error
proxy, url, cafile = sys.argv[1], sys.argv[2], sys.argv[3]
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({'https': proxy}),
    urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
out = {}
with opener.open(url + '/repos/a/b') as r:
    out['get'] = [r.status, r.read().decode()]
try:
    opener.open(urllib.request.Request(url + '/repos/a/b', data=b'{}', method='PUT'))
except urllib.error.HTTPError as e:
    out['put'] = [e.code, json.loads(e.read())['method']]
print(json.dumps(out))
"#;
    let v = python_json(
        script,
        &[
            env.proxy_url(),
            format!("https://api.test:{}", origin.port()),
            trust.sandbox_ca.display().to_string(),
        ],
    );
    assert_eq!(
        v["get"],
        serde_json::json!([200, "origin /repos/a/b len=0"])
    );
    assert_eq!(v["put"], serde_json::json!([403, "PUT"]));
}

#[test]
fn path_globs_match_as_written() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let base = format!("https://api.test:{}", origin.port());
    let cases = [
        ("GET", "/repos/a/b/c/d/e", 200),
        ("GET", "/repos", 403),
        ("GET", "/reposX/a", 403),
        ("POST", "/bot123/sendMessage", 200),
        ("POST", "/bot/x/y", 200),
        ("POST", "/api/bot1/x", 403),
        ("POST", "/bo/x", 403),
    ];
    for (method, path, want) in cases {
        let (code, body, _, err) = curl_https(
            &env,
            &trust.sandbox_ca,
            &["-X", method, &format!("{base}{path}")],
        );
        assert_eq!(code, want, "{method} {path}: {body} {err}");
    }
}

#[test]
fn query_matchers_and_no_query_in_the_audit_log() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let base = format!("https://api.test:{}", origin.port());
    let (code, body, _, _) = curl_https(
        &env,
        &trust.sandbox_ca,
        &[&format!("{base}/search?q=cordon-secret-token")],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body, "origin /search?q=cordon-secret-token len=0",
        "the query reaches the origin unchanged"
    );
    let (code, _, _, _) = curl_https(
        &env,
        &trust.sandbox_ca,
        &[&format!("{base}/search?q=other")],
    );
    assert_eq!(code, 403);
    let (code, _, _, _) = curl_https(&env, &trust.sandbox_ca, &[&format!("{base}/search")]);
    assert_eq!(code, 403);
    let lines = http_lines(&env, "api.test", "GET", 3);
    assert!(
        lines
            .iter()
            .all(|l| l["http_request"]["url"]["path"] == "/search"),
        "{lines:?}"
    );
    assert!(
        !env.raw_text().contains("secret-token"),
        "query values never reach the audit log"
    );
}

#[test]
fn deny_rules_win_over_allow_rules() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let base = format!("https://api.test:{}", origin.port());
    let (code, body, _, _) = curl_https(
        &env,
        &trust.sandbox_ca,
        &[&format!("{base}/repos/a/secrets/key")],
    );
    assert_eq!(code, 403, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rule"], "deny_rules[0]");
    assert!(v["hint"].as_str().unwrap().contains("deny_rules[0]"));
    // The twin: the same prefix without the denied segment passes.
    let (code, _, _, _) = curl_https(
        &env,
        &trust.sandbox_ca,
        &[&format!("{base}/repos/a/public/key")],
    );
    assert_eq!(code, 200);
    assert!(!origin.seen().iter().any(|s| s.contains("secrets")));
}

#[test]
fn audit_mode_passes_and_logs_the_would_be_denial() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["audit.test"]);
    let url = format!("https://audit.test:{}/anything", origin.port());
    let (code, body, _, _) = curl_https(&env, &trust.sandbox_ca, &["-X", "DELETE", &url]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, "origin /anything len=0");
    let lines = http_lines(&env, "audit.test", "DELETE", 1);
    assert_eq!(lines[0]["unmapped"]["action"], "audit-deny");
    assert_eq!(lines[0]["http_response"]["code"], 200);
    assert!(
        lines[0]["status_detail"]
            .as_str()
            .unwrap()
            .contains("no allow rule matches")
    );
    // The twin: an allowed method is logged as allow.
    curl_https(&env, &trust.sandbox_ca, &[&url]);
    let gets = http_lines(&env, "audit.test", "GET", 1);
    assert_eq!(gets[0]["unmapped"]["action"], "allow");
}

#[test]
fn keep_alive_allowed_then_denied_on_one_connection() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let script = r#"
import http.client, json, ssl, sys
proxy_port, port, cafile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPSConnection('127.0.0.1', proxy_port, context=ssl.create_default_context(cafile=cafile))
c.set_tunnel('api.test', port)
out = []
for method, path in [('GET', '/repos/a'), ('POST', '/repos/a'), ('GET', '/repos/b')]:
    c.request(method, path, body=b'{}' if method == 'POST' else None)
    r = c.getresponse()
    out.append([method, r.status, r.read().decode()[:40], id(c.sock)])
print(json.dumps(out))
"#;
    let v = python_json(
        script,
        &[
            env.addr.port().to_string(),
            origin.port().to_string(),
            trust.sandbox_ca.display().to_string(),
        ],
    );
    let rows = v.as_array().unwrap();
    assert_eq!(rows[0][1], 200);
    assert_eq!(rows[1][1], 403);
    assert_eq!(rows[2][1], 200, "the connection survives a denial");
    assert_eq!(
        rows[0][3], rows[2][3],
        "one connection carried all three requests"
    );
    let tunnels: Vec<Value> = env
        .audit_for("api.test", 4)
        .into_iter()
        .filter(|l| l["class_uid"] == 4001)
        .collect();
    assert_eq!(tunnels.len(), 1, "one tunnel: {tunnels:?}");
    assert!(
        tunnels[0]["status_detail"]
            .as_str()
            .unwrap()
            .contains("3 requests"),
        "{tunnels:?}"
    );
}

#[test]
fn plain_http_inside_connect_is_inspected_the_same_way() {
    let srv = HttpServer::start("plain", "127.0.0.1:0");
    let origin = Origin::start();
    let (env, _trust) = start(&policy(srv.port()), &origin, &["api.test"]);
    let base = format!("http://api.test:{}", srv.port());
    // -p: curl tunnels plain http through CONNECT.
    let (code, body) = curl(&env, &["-p", &format!("{base}/repos/x")]);
    assert_eq!(code, 200, "{body}");
    let (code, body) = curl(&env, &["-p", "-X", "POST", &format!("{base}/repos/x")]);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("\"method\":\"POST\""), "{body}");
    // Forwarded (absolute-form) plain HTTP is decided per request too.
    let (code, _) = curl(&env, &["-X", "POST", &format!("{base}/repos/x")]);
    assert_eq!(code, 403);
    let (code, _) = curl(&env, &[&format!("{base}/repos/x")]);
    assert_eq!(code, 200);
    // The twin of the TLS test's `https`: plain HTTP, in a tunnel or forwarded, is `http`.
    let lines = http_lines(&env, "api.test", "GET", 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .chain(&http_lines(&env, "api.test", "POST", 2))
            .all(|l| l["http_request"]["url"]["scheme"] == "http"),
        "{lines:?}"
    );
}

#[test]
fn upstream_certificate_errors_are_502_and_never_ignored() {
    let origin = Origin::start();
    // System roots only: the origin's private CA is not trusted.
    let (env, trust) = start_with_upstream(
        &policy(origin.port()),
        &origin,
        &["api.test"],
        UpstreamTls::new(None).unwrap(),
    );
    let (code, body, _, _) = curl_https(
        &env,
        &trust.sandbox_ca,
        &[&format!("https://api.test:{}/repos/a", origin.port())],
    );
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("not trusted"), "{body}");
    let lines = http_lines(&env, "api.test", "GET", 1);
    assert!(
        lines[0]["status_detail"]
            .as_str()
            .unwrap()
            .contains("UnknownIssuer"),
        "{lines:?}"
    );
    assert_eq!(lines[0]["http_response"]["code"], 502);
    assert!(origin.seen().is_empty());
}

#[test]
fn upstream_protocol_errors_are_502_with_an_audit_line() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["audit.test"]);
    let (code, body, _, _) = curl_https(
        &env,
        &trust.sandbox_ca,
        &[&format!("https://audit.test:{}/crash", origin.port())],
    );
    assert_eq!(code, 502, "{body}");
    let lines = http_lines(&env, "audit.test", "GET", 1);
    assert_eq!(lines[0]["http_response"]["code"], 502);
    assert!(
        lines[0]["status_detail"]
            .as_str()
            .unwrap()
            .contains("upstream protocol error"),
        "{lines:?}"
    );
}

#[test]
fn curl_through_the_proxy_sees_a_leaf_from_the_sandbox_ca() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let out = run(Command::new(tool("curl"))
        .args([
            "-sS",
            "-v",
            "-o",
            "/dev/null",
            "-x",
            &env.proxy_url(),
            "--cacert",
        ])
        .arg(&trust.sandbox_ca)
        .arg(format!("https://api.test:{}/repos/a", origin.port())));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("issuer: CN=cordon sandbox CA"), "{err}");
    assert!(err.contains("ALPN: server accepted http/1.1"), "{err}");
}
