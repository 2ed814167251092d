//! WebSockets on inspected endpoints: the upgrade is decided as a GET on its path,
//! and with `protocol: websocket` every client text message is decided as
//! `WEBSOCKET_TEXT` on that path; a denied message closes the connection with 1008.
//! The client is python3 with raw sockets and ssl (no packages).

use serde_json::{Value, json};

use super::common::Env;
use super::tls_support::{Origin, PY_WEBSOCKET, Trust, http_lines, python_json, start};

fn policy(port: u16) -> String {
    format!(
        r#"
version: 1
network_policies:
  chat:
    endpoints:
      - host: ws.test
        port: {port}
        protocol: websocket
        rules:
          - allow: {{method: GET, path: "/ws/**"}}
          - allow: {{method: WEBSOCKET_TEXT, path: "/ws/chat/**"}}
      - host: rest-ws.test
        port: {port}
        protocol: rest
        rules:
          - allow: {{method: GET, path: "/ws/**"}}
    binaries:
      - {{path: "/**"}}
"#
    )
}

fn ws(
    env: &Env,
    trust: &Trust,
    origin: &Origin,
    host: &str,
    path: &str,
    messages: &[&str],
) -> Value {
    python_json(
        PY_WEBSOCKET,
        &[
            env.addr.port().to_string(),
            host.to_owned(),
            origin.port().to_string(),
            trust.sandbox_ca.display().to_string(),
            path.to_owned(),
            serde_json::to_string(messages).unwrap(),
        ],
    )
}

#[test]
fn allowed_upgrade_relays_allowed_text_messages() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["ws.test"]);
    let v = ws(
        &env,
        &trust,
        &origin,
        "ws.test",
        "/ws/chat/room1",
        &["hello", "second"],
    );
    assert!(v["status"].as_str().unwrap().contains(" 101 "), "{v}");
    assert_eq!(
        v["accept_ok"], true,
        "Sec-WebSocket-Accept relayed intact: {v}"
    );
    assert_eq!(
        v["origin_saw_extensions"], false,
        "extensions are stripped when text is inspected"
    );
    assert_eq!(
        v["events"],
        json!([
            ["text", "echo:hello"],
            ["text", "echo:second"],
            ["close", 1000, ""]
        ])
    );
    let lines = http_lines(&env, "ws.test", "GET", 1);
    assert_eq!(lines[0]["http_response"]["code"], 101);
    assert!(
        lines[0]["status_detail"]
            .as_str()
            .unwrap()
            .contains("2 text messages"),
        "{lines:?}"
    );
}

#[test]
fn denied_upgrade_gets_403() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["ws.test"]);
    let v = ws(&env, &trust, &origin, "ws.test", "/private", &["hello"]);
    assert!(v["status"].as_str().unwrap().contains(" 403 "), "{v}");
    assert!(
        v["body"]
            .as_str()
            .unwrap()
            .contains("\"path\":\"/private\""),
        "{v}"
    );
    assert!(origin.seen().is_empty(), "{:?}", origin.seen());
}

#[test]
fn a_denied_text_message_closes_with_1008() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["ws.test"]);
    // GET /ws/feed is allowed (the upgrade), WEBSOCKET_TEXT on it is not.
    let v = ws(&env, &trust, &origin, "ws.test", "/ws/feed", &["leak this"]);
    assert!(v["status"].as_str().unwrap().contains(" 101 "), "{v}");
    assert_eq!(v["events"][0][0], "close", "{v}");
    assert_eq!(v["events"][0][1], 1008, "{v}");
    assert!(
        !origin.seen().iter().any(|s| s.contains("leak this")),
        "{:?}",
        origin.seen()
    );
    let lines = http_lines(&env, "ws.test", "WEBSOCKET_TEXT", 1);
    assert_eq!(lines[0]["unmapped"]["action"], "deny");
    assert_eq!(lines[0]["http_request"]["url"]["path"], "/ws/feed");
    assert_eq!(lines[0]["http_request"]["url"]["scheme"], "https");
    assert!(
        !env.raw_text().contains("leak this"),
        "message text never reaches the log"
    );
}

#[test]
fn rest_endpoints_relay_websocket_frames_uninspected() {
    let origin = Origin::start();
    let (env, trust) = start(&policy(origin.port()), &origin, &["rest-ws.test"]);
    let v = ws(
        &env,
        &trust,
        &origin,
        "rest-ws.test",
        "/ws/feed",
        &["anything"],
    );
    assert_eq!(v["events"][0], json!(["text", "echo:anything"]), "{v}");
}
