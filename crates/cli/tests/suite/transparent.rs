//! Transparent egress in `cordon run`, end to end, as root and rootless: programs
//! that ignore the proxy variables (a raw python socket, node's fetch, curl
//! --noproxy, dig, getent) are captured inside the sandbox and decided by the same
//! policy as proxy traffic; names the policy could not allow do not resolve and are
//! audited. With `network_settings.transparent: false` the same programs have no way
//! out at all (the twin of every "allowed" below). A TLS client with no proxy support
//! gets the L7 rules of a `protocol: rest` endpoint (the sandbox CA is in the bundle it
//! trusts). Servers run on the host's 127.0.0.1 only; `--add-host` points the
//! policy's names at it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::common::{MODES, PYTHON, WorldDir, cordon, require};
use super::egress_run::server::TestServer;
use super::egress_run::{audit_lines, decisions_for, network, policy_file, result};

/// Dials `host:port` directly (no proxy), sends one request, prints `LABEL ok BODY`,
/// `LABEL nxdomain`, or `LABEL errno N`. argv: label host port
const DIAL_PY: &str = r#"import socket, sys
label, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(f'GET /raw HTTP/1.0\r\nHost: {host}\r\n\r\n'.encode())
    s.shutdown(socket.SHUT_WR)
    data = b''
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print(label, 'ok', data.split(b'\r\n\r\n', 1)[-1].decode().strip())
except socket.gaierror:
    print(label, 'nxdomain')
except OSError as e:
    print(label, 'errno', e.errno)
"#;

/// node 20's fetch ignores HTTP_PROXY. argv: label url
const FETCH_JS: &str = r#"const [label, url] = process.argv.slice(2);
fetch(url).then(async r => console.log(label, r.status, (await r.text()).trim()))
  .catch(e => console.log(label, 'failed', (e.cause && e.cause.code) || e.name));
"#;

/// Every check, one labelled line each.
fn script(p: u16) -> String {
    format!(
        "python3 dial.py by_name api.test {p}\n\
         python3 dial.py other_port api.test {q}\n\
         python3 dial.py unknown_name evil.test {p}\n\
         python3 dial.py literal 198.51.100.7 80\n\
         node fetch.js node_fetch http://api.test:{p}/node\n\
         printf 'curl_noproxy '; curl -sS --noproxy '*' --max-time 10 http://api.test:{p}/curl 2>/dev/null || echo failed\n\
         printf 'dig_allowed '; dig +short api.test A | head -1\n\
         printf 'dig_denied '; dig evil-exfil.test | grep -o 'status: [A-Z]*'\n\
         printf 'getent_denied '; getent hosts other.evil.test >/dev/null; echo $?\n",
        q = p + 1
    )
}

fn run(mode: super::common::Mode, dir: &WorldDir, policy: &str, p: u16) -> (String, String) {
    let audit = dir.path().join("audit.jsonl");
    let args = [
        "run",
        "-v",
        "--policy",
        policy,
        "--audit",
        audit.to_str().unwrap(),
        "--workdir",
        dir.path().to_str().unwrap(),
        "--add-host",
        "api.test:127.0.0.1",
        "--add-host",
        "evil.test:127.0.0.1",
        "--",
        "/bin/sh",
        "-c",
        &script(p),
    ];
    let run = cordon(mode, args).run();
    let out = run.ok().to_owned();
    (out, run.stderr)
}

/// The sandbox resets a denied captured connection. Depending on whether the RST
/// lands before or after the client's `shutdown(SHUT_WR)`, python reports
/// ECONNRESET (104) or ENOTCONN (107); either way no byte came back.
fn reset(outcome: &str) -> bool {
    matches!(outcome, "errno 104" | "errno 107")
}

fn tools() {
    for tool in ["/usr/bin/python3", "node", "curl", "dig", "getent"] {
        require(tool);
    }
}

#[test]
fn programs_that_ignore_the_proxy_are_captured_and_decided_by_the_policy() {
    tools();
    let api = TestServer::start("api");
    let p = api.port();
    for mode in MODES {
        let dir = WorldDir::new(true);
        dir.file("dial.py", DIAL_PY);
        dir.file("fetch.js", FETCH_JS);
        let policy = policy_file(
            &dir,
            "policy.yaml",
            &network(&[("api", &[("api.test", p)], &["/**"])]),
        );
        let (out, stderr) = run(mode, &dir, &policy, p);
        let ctx = format!("{mode:?}:\n{out}\n{stderr}");

        assert!(
            stderr.contains("transparent capture: active"),
            "the -v status line says capture is active: {ctx}"
        );
        // Allowed: the policy's name, by a program that never heard of the proxy.
        assert_eq!(result(&out, "by_name"), "ok api GET /raw", "{ctx}");
        assert_eq!(result(&out, "node_fetch"), "200 api GET /node", "{ctx}");
        assert_eq!(result(&out, "curl_noproxy"), "api GET /curl", "{ctx}");
        assert!(result(&out, "dig_allowed").starts_with("198.18."), "{ctx}");
        // Blocked twins: another port, a name no entry allows, a literal address.
        assert!(reset(result(&out, "other_port")), "{ctx}");
        assert_eq!(result(&out, "unknown_name"), "nxdomain", "{ctx}");
        assert!(reset(result(&out, "literal")), "{ctx}");
        assert_eq!(result(&out, "dig_denied"), "status: NXDOMAIN", "{ctx}");
        assert_eq!(result(&out, "getent_denied"), "2", "{ctx}");

        let lines = audit_lines(&dir.path().join("audit.jsonl"));
        let api_lines = decisions_for(&lines, "api.test");
        let allowed: Vec<&&Value> = api_lines
            .iter()
            .filter(|l| l["unmapped"]["action"] == "allow")
            .collect();
        assert!(allowed.len() >= 3, "python, node and curl: {api_lines:#?}");
        for line in &allowed {
            assert_eq!(line["unmapped"]["transparent"], true, "{line}");
            assert_eq!(line["dst_endpoint"]["ip"], "127.0.0.1", "{line}");
        }
        let binaries: Vec<&str> = allowed
            .iter()
            .filter_map(|l| l["actor"]["process"]["file"]["path"].as_str())
            .collect();
        assert!(
            binaries.iter().any(|b| b.starts_with("/usr/bin/python3"))
                && binaries.iter().any(|b| b.ends_with("/node"))
                && binaries.contains(&"/usr/bin/curl"),
            "each caller identified: {binaries:?}"
        );
        assert!(
            api_lines
                .iter()
                .any(|l| l["unmapped"]["action"] == "deny" && l["dst_endpoint"]["port"] == p + 1),
            "{api_lines:#?}"
        );
        let literal = decisions_for(&lines, "198.51.100.7");
        assert_eq!(literal[0]["unmapped"]["action"], "deny", "{literal:#?}");
        for name in ["evil.test", "evil-exfil.test", "other.evil.test"] {
            let dns = decisions_for(&lines, name);
            assert!(
                dns.iter().any(|l| l["class_name"] == "DNS Activity"
                    && l["unmapped"]["action"] == "deny"),
                "{name}: {dns:#?}"
            );
        }
    }
}

#[test]
fn with_transparent_off_programs_that_ignore_the_proxy_have_no_way_out() {
    tools();
    let api = TestServer::start("api");
    let p = api.port();
    for mode in MODES {
        let dir = WorldDir::new(true);
        dir.file("dial.py", DIAL_PY);
        dir.file("fetch.js", FETCH_JS);
        let net = format!(
            "network_settings:\n  transparent: false\n{}",
            network(&[("api", &[("api.test", p)], &["/**"])])
        );
        let policy = policy_file(&dir, "policy.yaml", &net);
        let (out, stderr) = run(mode, &dir, &policy, p);
        let ctx = format!("{mode:?}:\n{out}\n{stderr}");
        assert!(
            stderr.contains("transparent capture: off"),
            "the -v status line says capture is off: {ctx}"
        );
        // The same allowed name, the same programs: nothing resolves, nothing routes.
        assert_eq!(result(&out, "by_name"), "nxdomain", "{ctx}");
        assert!(result(&out, "node_fetch").starts_with("failed"), "{ctx}");
        assert_eq!(result(&out, "curl_noproxy"), "failed", "{ctx}");
        assert_eq!(result(&out, "literal"), "errno 101", "{ctx}");
        assert_eq!(api.hits(), 0, "{ctx}");
    }
}

/// An HTTPS origin on the host's 127.0.0.1 with its own CA (openssl), answering
/// `origin METHOD PATH`; killed when dropped.
struct HttpsOrigin {
    child: Child,
    port: u16,
}

/// The origin: python's http.server behind TLS. argv: cert key
const ORIGIN_PY: &str = r#"import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def answer(self):
        n = int(self.headers.get('Content-Length') or 0)
        if n:
            self.rfile.read(n)
        body = f'origin {self.command} {self.path}'.encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_DELETE = answer
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl HttpsOrigin {
    /// Mints a CA and a leaf for `api.test` in `dir` (the CA at `dir/origin-ca.pem`).
    fn start(dir: &WorldDir) -> HttpsOrigin {
        require("openssl");
        let d = dir.path();
        dir.file("leaf.ext", "subjectAltName=DNS:api.test\n");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "origin-ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=cordon test origin CA",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "leaf.key",
                    "-out",
                    "leaf.csr",
                    "-subj",
                    "/CN=api.test",
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "origin-ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ]);
        dir.file("origin.py", ORIGIN_PY);
        let mut child = Command::new(PYTHON)
            .args(["origin.py", "leaf.pem", "leaf.key"])
            .current_dir(d)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the origin prints its port");
        HttpsOrigin { child, port }
    }
}

impl Drop for HttpsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// urllib with proxies switched off, trusting the system bundle (which holds the
/// sandbox CA inside). argv: label method url
const HTTPS_PY: &str = r#"import sys, urllib.request, urllib.error
label, method, url = sys.argv[1:4]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    r = opener.open(urllib.request.Request(url, method=method, data=b'x' if method == 'POST' else None), timeout=20)
    print(label, r.status, r.read().decode().strip())
except urllib.error.HTTPError as e:
    print(label, e.code, e.read().decode().strip())
except Exception as e:
    print(label, 'error', type(e).__name__, e)
"#;

#[test]
fn a_tls_client_without_proxy_support_gets_the_l7_rules() {
    tools();
    for mode in MODES {
        let dir = WorldDir::new(true);
        let origin = HttpsOrigin::start(&dir);
        let p = origin.port;
        dir.file("https.py", HTTPS_PY);
        let policy = policy_file(
            &dir,
            "policy.yaml",
            &format!(
                "network_policies:\n  api:\n    endpoints:\n      - host: api.test\n        port: {p}\n        \
                 protocol: rest\n        rules:\n          - allow: {{method: GET, path: \"/repos/**\"}}\n    \
                 binaries:\n      - {{path: \"/**\"}}\n"
            ),
        );
        let audit = dir.path().join("audit.jsonl");
        let url = format!("https://api.test:{p}/repos/a");
        let script = format!(
            "python3 https.py py_get GET {url}\n\
             python3 https.py py_post POST {url}\n\
             printf 'curl_get '; curl -sS --noproxy '*' {url}; echo\n\
             printf 'curl_delete '; curl -sS --noproxy '*' -o /dev/null -w '%{{http_code}}' -X DELETE {url}; echo\n"
        );
        let ca = dir.path().join("origin-ca.pem");
        let run = cordon(
            mode,
            [
                "run",
                "--policy",
                &policy,
                "--audit",
                audit.to_str().unwrap(),
                "--upstream-ca",
                ca.to_str().unwrap(),
                "--workdir",
                dir.path().to_str().unwrap(),
                "--add-host",
                "api.test:127.0.0.1",
                "--",
                "/bin/sh",
                "-c",
                &script,
            ],
        )
        .run();
        let out = run.ok();
        let ctx = format!("{mode:?}: {run:#?}");
        assert_eq!(result(out, "py_get"), "200 origin GET /repos/a", "{ctx}");
        assert_eq!(result(out, "curl_get"), "origin GET /repos/a", "{ctx}");
        // Blocked twins: same host, same TLS path, methods the rules do not allow.
        let post = result(out, "py_post");
        assert!(post.starts_with("403 "), "{ctx}");
        let body: Value = serde_json::from_str(&post[4..]).unwrap();
        assert_eq!(body["error"], "policy_denied", "{body}");
        assert_eq!(body["method"], "POST");
        assert_eq!(result(out, "curl_delete"), "403", "{ctx}");

        let lines = audit_lines(&audit);
        let requests: Vec<&Value> = decisions_for(&lines, "api.test")
            .into_iter()
            .filter(|l| l["class_name"] == "HTTP Activity")
            .collect();
        assert!(
            requests
                .iter()
                .all(|l| l["unmapped"]["transparent"] == true),
            "{requests:#?}"
        );
        for (method, action) in [("GET", "allow"), ("POST", "deny"), ("DELETE", "deny")] {
            assert!(
                requests
                    .iter()
                    .any(|l| l["http_request"]["http_method"] == method
                        && l["unmapped"]["action"] == action),
                "{method} {action}: {requests:#?}"
            );
        }
    }
}
