//! Transparent egress at the library level: clients that know nothing about the
//! proxy (raw python sockets, node's fetch, curl --noproxy, a TLS client with no proxy
//! support), inside a namespace whose outbound TCP and DNS are captured, decided by
//! the same policy engine as proxy traffic. Every blocked attempt has an allowed twin.

use std::sync::Arc;
use std::time::Duration;

use cordon_egress::Limits;
use cordon_egress::l7::Inspection;
use cordon_egress::tls::{SandboxCa, UpstreamTls};
use serde_json::Value;

use super::common::compile;
use super::common::servers::HttpServer;
use super::tls_support::Origin;
use super::transparent_support::{CAPTURE_PORT, Captured, Setup};

/// Python: resolve `host`, connect to (host, port) directly, send one HTTP/1.0
/// request with `Host: host_header`, print `{"addr": ..., "reply": ...}` or the error.
/// argv: host port host_header
const PY_RAW: &str = r#"
import json, socket, sys
host, port, header = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = {}
try:
    addr = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    out['addr'] = addr
    s = socket.create_connection((addr, port), timeout=10)
    s.sendall(f'GET /raw HTTP/1.0\r\nHost: {header}\r\n\r\n'.encode())
    data = b''
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    out['reply'] = data.decode(errors='replace').split('\r\n\r\n', 1)[-1].strip()
except socket.gaierror as e:
    out['error'] = 'gaierror'
except OSError as e:
    out['error'] = f'errno {e.errno}'
print(json.dumps(out))
"#;

/// Python: TLS straight to `host:port` (no proxy), trusting `cafile`, with SNI
/// `sni`; sends `method path` and prints status and body (or the error).
/// argv: host port cafile sni method path
const PY_TLS: &str = r#"
import json, socket, ssl, sys
host, port, cafile, sni, method, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
out = {}
try:
    raw = socket.create_connection((host, port), timeout=10)
    ctx = ssl.create_default_context(cafile=cafile)
    t = ctx.wrap_socket(raw, server_hostname=sni)
    t.sendall(f'{method} {path} HTTP/1.1\r\nHost: {sni}:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'.encode())
    data = b''
    while True:
        chunk = t.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.decode(errors='replace').partition('\r\n\r\n')
    out['status'] = int(head.split()[1])
    out['body'] = body.strip()
except OSError as e:
    out['error'] = f'{type(e).__name__} {getattr(e, "errno", "")}'
print(json.dumps(out))
"#;

fn policy(entries: &str) -> String {
    format!("version: 1\nnetwork_policies:\n{entries}")
}

fn l4(name: &str, host: &str, port: u16, binary: &str) -> String {
    format!(
        "  {name}:\n    endpoints:\n      - {{host: \"{host}\", port: {port}}}\n    \
         binaries:\n      - {{path: \"{binary}\"}}\n"
    )
}

fn raw(env: &Captured, host: &str, port: u16, header: &str) -> Value {
    env.python_json(PY_RAW, &[host, &port.to_string(), header])
}

#[test]
fn a_raw_socket_client_reaches_an_allowed_name_and_nothing_else() {
    let api = HttpServer::start("api", "127.0.0.1:0");
    let p = api.port();
    let env = Captured::start(Setup {
        policy: &policy(&l4("api", "api.test", p, "/**")),
        hosts: &["api.test", "evil.test"],
        ..Setup::default()
    });

    let allowed = raw(&env, "api.test", p, "api.test");
    assert_eq!(allowed["reply"], "api GET /raw len=0", "{allowed}");
    assert!(
        allowed["addr"].as_str().unwrap().starts_with("198.18."),
        "a synthetic address, never the real one: {allowed}"
    );
    let line = &env.audit_where("api.test", |v| v["unmapped"]["action"] == "allow")[0];
    assert_eq!(line["unmapped"]["transparent"], true, "{line}");
    assert_eq!(line["dst_endpoint"]["port"], p);
    assert_eq!(line["dst_endpoint"]["ip"], "127.0.0.1");
    assert!(
        line["actor"]["process"]["file"]["path"]
            .as_str()
            .unwrap()
            .starts_with("/usr/bin/python3"),
        "the caller's binary is identified: {line}"
    );

    // Blocked twins: a name no entry allows does not even resolve; the allowed name on
    // a port the entry does not list is reset.
    let evil = raw(&env, "evil.test", p, "evil.test");
    assert_eq!(evil["error"], "gaierror", "{evil}");
    let other_port = raw(&env, "api.test", p + 1, "api.test");
    assert_eq!(other_port["error"], "errno 104", "{other_port}");
    let line = &env.audit_where("api.test", |v| {
        v["unmapped"]["action"] == "deny" && v["dst_endpoint"]["port"] == p + 1
    })[0];
    assert_eq!(line["unmapped"]["transparent"], true);

    // Dialling the capture listener itself is no way around the decision.
    let direct = raw(&env, "127.0.0.1", CAPTURE_PORT, "api.test");
    assert_eq!(direct["error"], "errno 104", "{direct}");
}

#[test]
fn dns_answers_only_names_the_policy_could_allow_and_audits_the_rest() {
    let env = Captured::start(Setup {
        policy: &policy(&l4("api", "*.api.test", 443, "/**")),
        ..Setup::default()
    });
    let dig = |args: &[&str]| {
        let out = env.run("dig", args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let answer = dig(&["+short", "v1.api.test", "A"]);
    assert!(answer.trim().starts_with("198.18."), "{answer}");
    let answer6 = dig(&["+short", "v1.api.test", "AAAA"]);
    assert!(
        answer6.trim().starts_with("fd63:6f72:646f:6e00::"),
        "{answer6}"
    );
    // The same answer whatever server is asked: UDP to port 53 anywhere is captured.
    let elsewhere = dig(&["+short", "@8.8.8.8", "v1.api.test", "A"]);
    assert_eq!(elsewhere.trim(), answer.trim());

    let refused = dig(&["secret-payload.evil.test", "A"]);
    assert!(refused.contains("status: NXDOMAIN"), "{refused}");
    // Wildcard twin: the parent of `*.api.test` itself is not covered either.
    assert!(dig(&["api.test"]).contains("status: NXDOMAIN"));
    let getent = env.run("getent", &["hosts", "other.evil.test"]);
    assert_eq!(getent.status.code(), Some(2), "getent: not found");
    let getent_ok = env.run("getent", &["hosts", "v2.api.test"]);
    assert!(getent_ok.status.success(), "{getent_ok:?}");

    for name in ["secret-payload.evil.test", "other.evil.test"] {
        let lines = env.audit_where(name, |_| true);
        let line = lines
            .first()
            .unwrap_or_else(|| panic!("no audit line for {name}"));
        assert_eq!(line["class_name"], "DNS Activity", "{line}");
        assert_eq!(line["unmapped"]["action"], "deny");
        assert_eq!(line["connection_info"]["protocol_name"], "udp");
        assert!(
            line["status_detail"].as_str().unwrap().contains("NXDOMAIN"),
            "{line}"
        );
    }
    // Answered names are not logged (their connections are).
    let answered = env.audit_lines();
    assert!(
        !answered
            .iter()
            .any(|v| v["dst_endpoint"]["hostname"] == "v1.api.test"),
        "{answered:?}"
    );
}

#[test]
fn literal_addresses_are_decided_as_literals() {
    let env = Captured::start(Setup {
        policy: &policy(&l4("lit", "198.51.100.8", 80, "/**")),
        limits: Limits {
            connect_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Setup::default()
    });
    let denied = raw(&env, "198.51.100.7", 80, "198.51.100.7");
    assert_eq!(denied["error"], "errno 104", "{denied}");
    let line = &env.audit_where("198.51.100.7", |_| true)[0];
    assert_eq!(line["unmapped"]["action"], "deny", "{line}");
    assert!(
        line["status_detail"]
            .as_str()
            .unwrap()
            .contains("no network_policies endpoint"),
        "{line}"
    );
    // Twin: the literal the policy names passes the decision, and the proxy dials
    // exactly that address (whether anything answers there depends on the host's
    // network, so only the decision and the address are checked).
    let _ = raw(&env, "198.51.100.8", 80, "198.51.100.8");
    let line = &env.audit_where("198.51.100.8", |_| true)[0];
    assert_eq!(line["unmapped"]["action"], "allow", "{line}");
    assert_eq!(line["dst_endpoint"]["ip"], "198.51.100.8");
    assert_eq!(line["unmapped"]["transparent"], true);
}

#[test]
fn node_fetch_works_without_proxy_settings() {
    let api = HttpServer::start("api", "127.0.0.1:0");
    let p = api.port();
    let env = Captured::start(Setup {
        policy: &policy(&l4("api", "api.test", p, "/**")),
        hosts: &["api.test"],
        ..Setup::default()
    });
    let script = "fetch(process.argv[1]).then(async r => console.log(r.status, (await r.text()).trim()))\
        .catch(e => console.log('failed', (e.cause && e.cause.code) || e.name));";
    let fetch = |url: &str| {
        let out = env.run("node", &["-e", script, url]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        fetch(&format!("http://api.test:{p}/node")),
        "200 api GET /node len=0"
    );
    assert_eq!(
        fetch(&format!("http://evil.test:{p}/node")),
        "failed ENOTFOUND"
    );
}

#[test]
fn binaries_are_checked_on_captured_connections() {
    let api = HttpServer::start("api", "127.0.0.1:0");
    let p = api.port();
    let env = Captured::start(Setup {
        policy: &policy(&l4("curl_only", "api.test", p, "/usr/bin/curl")),
        hosts: &["api.test"],
        ..Setup::default()
    });
    let curl = env.run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "10",
            &format!("http://api.test:{p}/curl"),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "api GET /curl len=0\n"
    );
    let py = raw(&env, "api.test", p, "api.test");
    assert_eq!(py["error"], "errno 104", "{py}");
    let line = &env.audit_where("api.test", |v| v["unmapped"]["action"] == "deny")[0];
    assert!(
        line["actor"]["process"]["file"]["path"]
            .as_str()
            .unwrap()
            .starts_with("/usr/bin/python3"),
        "{line}"
    );
}

#[test]
fn sni_and_host_must_name_what_the_client_resolved() {
    let origin = Origin::start();
    let p = origin.port();
    let api = HttpServer::start("api", "127.0.0.1:0");
    let env = Captured::start(Setup {
        policy: &policy(&format!(
            "{}{}",
            l4("tls", "api.test", p, "/**"),
            l4("http", "api.test", api.port(), "/**")
        )),
        hosts: &["api.test", "evil.test"],
        ..Setup::default()
    });
    let ca = env.file("origin-ca.pem", &origin.ca_pem);
    let ca = ca.to_str().unwrap();
    let port = p.to_string();
    // L4 endpoint: TLS passes through untouched, end to end with the origin.
    let ok = env.python_json(PY_TLS, &["api.test", &port, ca, "api.test", "GET", "/x"]);
    assert_eq!(ok["status"], 200, "{ok}");
    assert_eq!(ok["body"], "origin /x len=0");
    // Blocked twin: the allowed name's address, another name in the ClientHello.
    let fronted = env.python_json(PY_TLS, &["api.test", &port, ca, "evil.test", "GET", "/x"]);
    assert!(fronted.get("status").is_none(), "{fronted}");
    let line = &env.audit_where("api.test", |v| {
        v["unmapped"]["action"] == "deny" && v["dst_endpoint"]["port"] == p
    })[0];
    assert!(
        line["status_detail"]
            .as_str()
            .unwrap()
            .contains("TLS SNI evil.test does not match api.test"),
        "{line}"
    );
    // The same for a plain HTTP Host header.
    let honest = raw(&env, "api.test", api.port(), "api.test");
    assert_eq!(honest["reply"], "api GET /raw len=0", "{honest}");
    let fronted = raw(&env, "api.test", api.port(), "evil.test");
    assert_eq!(fronted["error"], "errno 104", "{fronted}");
}

#[test]
fn a_tls_client_without_proxy_support_gets_the_l7_rules() {
    let origin = Origin::start();
    let p = origin.port();
    let sandbox_ca = Arc::new(SandboxCa::generate().unwrap());
    let inspection = Inspection::new(
        Arc::clone(&sandbox_ca),
        UpstreamTls::new(Some(&origin.ca_pem)).unwrap(),
    );
    let env = Captured::start(Setup {
        policy: &policy(&format!(
            "  api:\n    endpoints:\n      - host: api.test\n        port: {p}\n        \
             protocol: rest\n        rules:\n          - allow: {{method: GET, path: \"/repos/**\"}}\n    \
             binaries:\n      - {{path: \"/**\"}}\n"
        )),
        hosts: &["api.test"],
        inspection: Some(inspection),
        ..Setup::default()
    });
    let ca = env.file("sandbox-ca.pem", sandbox_ca.cert_pem());
    let ca = ca.to_str().unwrap();
    let port = p.to_string();
    let get = env.python_json(
        PY_TLS,
        &["api.test", &port, ca, "api.test", "GET", "/repos/a"],
    );
    assert_eq!(get["status"], 200, "{get}");
    assert_eq!(get["body"], "origin /repos/a len=0");
    // Blocked twin: same host, same connection type, a method the rules do not allow.
    let post = env.python_json(
        PY_TLS,
        &["api.test", &port, ca, "api.test", "POST", "/repos/a"],
    );
    assert_eq!(post["status"], 403, "{post}");
    let body: Value = serde_json::from_str(post["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "policy_denied");
    assert_eq!(body["method"], "POST");
    assert_eq!(origin.seen().len(), 1, "{:?}", origin.seen());
    let line = &env.audit_where("api.test", |v| v["http_request"]["http_method"] == "POST")[0];
    assert_eq!(line["unmapped"]["action"], "deny");
    assert_eq!(line["unmapped"]["transparent"], true, "{line}");
    // And curl without proxy support, trusting the sandbox CA, the same way.
    let curl = env.run(
        "curl",
        &[
            "-sS",
            "--noproxy",
            "*",
            "--cacert",
            ca,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "DELETE",
            &format!("https://api.test:{p}/repos/a"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "403");
}

#[test]
fn turning_transparent_off_by_reload_closes_both_paths() {
    let api = HttpServer::start("api", "127.0.0.1:0");
    let p = api.port();
    let entries = l4("api", "api.test", p, "/**");
    let env = Captured::start(Setup {
        policy: &policy(&entries),
        hosts: &["api.test"],
        ..Setup::default()
    });
    // Resolved while on; the address stays valid for the name.
    let before = raw(&env, "api.test", p, "api.test");
    assert_eq!(before["reply"], "api GET /raw len=0", "{before}");
    let addr = before["addr"].as_str().unwrap().to_owned();
    env.proxy().reload(compile(&format!(
        "version: 1\nnetwork_settings:\n  transparent: false\nnetwork_policies:\n{entries}"
    )));
    let dig = env.run("dig", &["api.test"]);
    assert!(
        String::from_utf8_lossy(&dig.stdout).contains("status: REFUSED"),
        "{dig:?}"
    );
    let after = raw(&env, &addr, p, "api.test");
    assert_eq!(after["error"], "errno 104", "{after}");
    let line = &env.audit_where(&addr, |_| true)[0];
    assert!(
        line["status_detail"]
            .as_str()
            .unwrap()
            .contains("transparent egress is off"),
        "{line}"
    );
}
