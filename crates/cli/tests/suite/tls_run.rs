//! TLS inspection through the real `cordon run` (issue 5): clients inside the sandbox
//! trust the sandbox CA through the mounted bundle, the proxy terminates TLS for a
//! `protocol: rest` endpoint and decides each request (GET allowed, POST denied by
//! `access: read-only`), and verifies the upstream against `--upstream-ca`. The twin
//! without `--upstream-ca` proves upstream certificate errors are never ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::suite::common::{MODES, WorldDir, cordon, policy_yaml, require};

/// A stdlib HTTPS origin on 127.0.0.1 that echoes the method and path; prints its port.
const ORIGIN_PY: &str = r#"import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def reply(self):
        body = f"origin {self.command} {self.path}\n".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = reply
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = c.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

struct Origin {
    child: Child,
    port: u16,
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mints a test CA and a leaf for `api.test` with the openssl CLI, in `dir`.
pub(crate) fn mint(dir: &WorldDir) {
    require("openssl");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=cordon test origin CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=api.test",
    ]);
    dir.file("ext", "subjectAltName=DNS:api.test\n");
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    for file in ["ca.pem", "srv.pem"] {
        let path = dir.path().join(file);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod");
    }
}

fn origin(dir: &WorldDir) -> Origin {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(ORIGIN_PY)
        .arg(dir.path().join("srv.pem"))
        .arg(dir.path().join("srv.key"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start origin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("origin port");
    let port = line.trim().parse().expect("port number");
    Origin { child, port }
}

#[test]
fn https_requests_are_decided_one_by_one_inside_cordon_run() {
    require("curl");
    let dir = WorldDir::new(false);
    mint(&dir);
    let origin = origin(&dir);
    let tail = format!(
        "network_policies:\n  api:\n    endpoints:\n      - host: api.test\n        port: {}\n        \
         protocol: rest\n        access: read-only\n    binaries:\n      - {{ path: /usr/bin/curl }}\n",
        origin.port
    );
    let policy = dir.file("policy.yaml", &policy_yaml(&[dir.path()], &[], &tail));
    let url = format!("https://api.test:{}/repos/x", origin.port);
    // Pinning the origin's own CA would work without interception; through the proxy
    // the client sees the sandbox's leaf instead and refuses it.
    let ca = dir.path().join("ca.pem").display().to_string();
    let script = format!(
        "curl -sS {url}; curl -sS -X POST {url}; echo; \
         curl -sS -o /dev/null -w 'pinned %{{http_code}}\\n' --cacert {ca} {url} || echo pinned-failed"
    );
    for mode in MODES {
        let run = cordon(
            mode,
            [
                "run".as_ref(),
                "--policy".as_ref(),
                policy.as_os_str(),
                "--add-host".as_ref(),
                "api.test:127.0.0.1".as_ref(),
                "--upstream-ca".as_ref(),
                dir.path().join("ca.pem").as_os_str(),
                "--".as_ref(),
                "sh".as_ref(),
                "-c".as_ref(),
                script.as_ref(),
            ],
        )
        .run();
        let out = run.ok();
        // Allowed: GET reaches the origin through a verified upstream connection.
        assert!(out.contains("origin GET /repos/x"), "{mode:?}: {run:#?}");
        // Denied twin on the same host: POST gets the 403 JSON naming the rule.
        assert!(
            out.contains("\"error\":\"policy_denied\""),
            "{mode:?}: {run:#?}"
        );
        assert!(out.contains("\"method\":\"POST\""), "{mode:?}: {run:#?}");
        assert!(!out.contains("origin POST"), "{mode:?}: {run:#?}");
        // A client that pins the origin's CA refuses the sandbox's leaf: it fails cleanly.
        assert!(out.contains("pinned-failed"), "{mode:?}: {run:#?}");

        // Without --upstream-ca the origin's certificate is not trusted: the proxy
        // refuses to forward (502), it never ignores the error.
        let run = cordon(
            mode,
            [
                "run".as_ref(),
                "--policy".as_ref(),
                policy.as_os_str(),
                "--add-host".as_ref(),
                "api.test:127.0.0.1".as_ref(),
                "--".as_ref(),
                "curl".as_ref(),
                "-sS".as_ref(),
                "-o".as_ref(),
                "/dev/null".as_ref(),
                "-w".as_ref(),
                "%{http_code}".as_ref(),
                url.as_ref(),
            ],
        )
        .run();
        assert_eq!(run.stdout.trim(), "502", "{mode:?}: {run:#?}");
    }
}
