//! Request smuggling and disagreement attempts on an inspected connection, sent as
//! raw bytes inside TLS by python3: each is refused before the origin sees it, and
//! each has an allowed twin on the same connection shape.

use serde_json::Value;

use super::common::Env;
use super::tls_support::{Origin, PY_RAW_TLS, Trust, python_json, start};

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
          - allow: {{method: POST, path: "/public/**"}}
          - allow: {{method: GET, path: "/public/**"}}
      - host: slash.test
        port: {port}
        protocol: rest
        allow_encoded_slash: true
        rules:
          - allow: {{method: GET, path: "/public/**"}}
    binaries:
      - {{path: "/**"}}
"#
    )
}

fn raw(env: &Env, trust: &Trust, origin: &Origin, host: &str, sni: &str, request: &str) -> Value {
    python_json(
        PY_RAW_TLS,
        &[
            env.addr.port().to_string(),
            host.to_owned(),
            origin.port().to_string(),
            trust.sandbox_ca.display().to_string(),
            sni.to_owned(),
            hex::encode(request.replace("PORT", &origin.port().to_string())),
        ],
    )
}

#[test]
fn smuggling_attempts_are_refused_before_the_origin_sees_them() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let attempts = [
        // CL.TE: a length covering a hidden request.
        "POST /public/a HTTP/1.1\r\nHost: api.test:PORT\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: api.test:PORT\r\n\r\n",
        // TE.CL, header order swapped.
        "POST /public/a HTTP/1.1\r\nHost: api.test:PORT\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /admin HTTP/1.1\r\n\r\n0\r\n\r\n",
        // Two lengths.
        "POST /public/a HTTP/1.1\r\nHost: api.test:PORT\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\nGET /admin HTTP/1.1\r\nHost: api.test\r\n\r\n",
        // Obfuscated encoding.
        "POST /public/a HTTP/1.1\r\nHost: api.test:PORT\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        // obs-fold.
        "GET /public/a HTTP/1.1\r\nHost: api.test:PORT\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n",
        // Host naming another site behind the same front end.
        "GET /public/a HTTP/1.1\r\nHost: admin.internal\r\n\r\n",
        // Dot segments and encoded slashes.
        "GET /public/../admin HTTP/1.1\r\nHost: api.test:PORT\r\n\r\n",
        "GET /public/%2e%2e/admin HTTP/1.1\r\nHost: api.test:PORT\r\n\r\n",
        "GET /public/..;/admin HTTP/1.1\r\nHost: api.test:PORT\r\n\r\n",
        "GET /public%2F..%2Fadmin HTTP/1.1\r\nHost: api.test:PORT\r\n\r\n",
        // h2c upgrade would carry requests past inspection.
        "GET /public/a HTTP/1.1\r\nHost: api.test:PORT\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    ];
    for attempt in attempts {
        let v = raw(&env, &trust, &origin, "api.test", "api.test", attempt);
        let statuses = v["statuses"].as_array().unwrap();
        assert_eq!(statuses.len(), 1, "{attempt:?}: {v}");
        let status = statuses[0].as_str().unwrap();
        assert!(
            status.starts_with("HTTP/1.1 400") || status.starts_with("HTTP/1.1 403"),
            "{attempt:?}: {v}"
        );
    }
    let seen = origin.seen();
    assert!(seen.is_empty(), "the origin saw {seen:?}");

    // The allowed twin: a clean keep-alive pair passes.
    let v = raw(
        &env,
        &trust,
        &origin,
        "api.test",
        "api.test",
        "POST /public/a HTTP/1.1\r\nHost: api.test:PORT\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /public/b HTTP/1.1\r\nHost: api.test:PORT\r\nConnection: close\r\n\r\n",
    );
    let statuses = v["statuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 2, "{v}");
    assert!(
        statuses
            .iter()
            .all(|s| s.as_str().unwrap().starts_with("HTTP/1.1 200")),
        "{v}"
    );
    assert!(
        v["raw"]
            .as_str()
            .unwrap()
            .contains("origin /public/a len=3"),
        "{v}"
    );
}

#[test]
fn sni_must_match_the_connect_target() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test"]);
    let v = raw(
        &env,
        &trust,
        &origin,
        "api.test",
        "evil.test",
        "GET /public/a HTTP/1.1\r\nHost: evil.test\r\n\r\n",
    );
    assert!(v["handshake_error"].is_string(), "{v}");
    let lines = env.audit_for("api.test", 1);
    assert!(
        lines.iter().any(|l| l["status_detail"]
            .as_str()
            .is_some_and(|r| r.contains("`evil.test` does not match"))),
        "{lines:?}"
    );
    assert!(origin.seen().is_empty());
}

#[test]
fn encoded_slashes_pass_only_where_allowed() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["api.test", "slash.test"]);
    let request = |host: &str| {
        format!("GET /public/a%2Fb HTTP/1.1\r\nHost: {host}:PORT\r\nConnection: close\r\n\r\n")
    };
    let v = raw(
        &env,
        &trust,
        &origin,
        "api.test",
        "api.test",
        &request("api.test"),
    );
    assert!(
        v["statuses"][0]
            .as_str()
            .unwrap()
            .starts_with("HTTP/1.1 403"),
        "{v}"
    );
    assert!(
        v["raw"].as_str().unwrap().contains("allow_encoded_slash"),
        "{v}"
    );
    let v = raw(
        &env,
        &trust,
        &origin,
        "slash.test",
        "slash.test",
        &request("slash.test"),
    );
    assert!(
        v["statuses"][0]
            .as_str()
            .unwrap()
            .starts_with("HTTP/1.1 200"),
        "{v}"
    );
    assert!(
        v["raw"].as_str().unwrap().contains("origin /public/a%2Fb"),
        "{v}"
    );
}
