//! A WebSocket sent to the proxy in absolute form (`GET http://ws.test:PORT/ws/...`
//! with `Upgrade: websocket`), as root and rootless: the `101` reaches the client
//! with `Upgrade` and `Connection: Upgrade`, text messages are echoed, and on a
//! `protocol: websocket` endpoint a text message the `WEBSOCKET_TEXT` rules do not
//! allow closes the connection with 1008 before it reaches the server, exactly as
//! inside a CONNECT tunnel. The client is python3 with a raw socket inside the
//! sandbox; the server is python3 on the host's 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::{audit_lines, decisions_for, policy_file, result};
use crate::suite::common::{MODES, PYTHON, WorldDir, cordon, require};

/// A WebSocket echo server (stdlib only): answers an upgrade with `101`, echoes text
/// messages as `echo:TEXT`, returns close frames. Appends `request LINE upgrade=..
/// connection=..`, `ws:TEXT` and `close:CODE` to the log file. argv: log_file
const ORIGIN_PY: &str = r#"import base64, hashlib, socketserver, struct, sys, threading
GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
lock = threading.Lock()
def log(line):
    with lock, open(sys.argv[1], 'a') as f:
        f.write(line + '\n')
class H(socketserver.BaseRequestHandler):
    def handle(self):
        s, buf = self.request, b''
        while b'\r\n\r\n' not in buf:
            chunk = s.recv(4096)
            if not chunk:
                return
            buf += chunk
        head, _, buf = buf.partition(b'\r\n\r\n')
        lines = head.decode().split('\r\n')
        hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(':', 1) for l in lines[1:])}
        log(f"request {lines[0]} upgrade={hdrs.get('upgrade', '-')} connection={hdrs.get('connection', '-')}")
        if hdrs.get('upgrade', '').lower() != 'websocket':
            s.sendall(b'HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
            return
        accept = base64.b64encode(hashlib.sha1((hdrs['sec-websocket-key'] + GUID).encode()).digest()).decode()
        s.sendall(('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                   f'Sec-WebSocket-Accept: {accept}\r\n\r\n').encode())
        def need(n):
            nonlocal buf
            while len(buf) < n:
                chunk = s.recv(65536)
                if not chunk:
                    raise EOFError()
                buf += chunk
        try:
            while True:
                need(2)
                op, n, off = buf[0] & 0x0f, buf[1] & 0x7f, 2
                if n == 126:
                    need(4); n = struct.unpack('>H', buf[2:4])[0]; off = 4
                need(off + 4 + n)
                mask = buf[off:off + 4]
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[off + 4:off + 4 + n]))
                buf = buf[off + 4 + n:]
                if op == 1:
                    text = payload.decode()
                    log('ws:' + text)
                    reply = ('echo:' + text).encode()
                    s.sendall(bytes([0x81, len(reply)]) + reply)
                elif op == 8:
                    code = struct.unpack('>H', payload[:2])[0] if len(payload) >= 2 else 1005
                    log(f'close:{code}')
                    s.sendall(bytes([0x88, 2]) + struct.pack('>H', code))
                    return
        except (EOFError, OSError):
            return
class S(socketserver.ThreadingTCPServer):
    daemon_threads = True
srv = S(('127.0.0.1', 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// The client, inside the sandbox: one connection to the proxy named by HTTP_PROXY,
/// an absolute-form upgrade request, each message sent as a masked text frame and one
/// frame read back, then a close 1000. Prints `LABEL {json}` with the status line,
/// which upgrade headers the 101 carried, whether Sec-WebSocket-Accept was right, and
/// the frames received (`["text", s]` or `["close", code]`).
/// argv: label host port path messages_json
const CLIENT_PY: &str = r#"import base64, hashlib, json, os, socket, struct, sys, urllib.parse
label, host, port, path, msgs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
proxy = urllib.parse.urlsplit(os.environ.get('HTTP_PROXY') or os.environ['http_proxy'])
s = socket.create_connection((proxy.hostname, proxy.port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f'GET http://{host}:{port}{path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n'
           f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())
buf = b''
while b'\r\n\r\n' not in buf:
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
head, _, buf = buf.partition(b'\r\n\r\n')
lines = head.decode(errors='replace').split('\r\n')
hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(':', 1) for l in lines[1:] if ':' in l)}
out = {'status': lines[0], 'upgrade': hdrs.get('upgrade'), 'connection': hdrs.get('connection'), 'events': []}
if ' 101 ' not in out['status']:
    print(label, json.dumps(out)); sys.exit(0)
want = base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()
out['accept_ok'] = hdrs.get('sec-websocket-accept') == want
def need(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError()
        buf += chunk
def recv_frame():
    global buf
    need(2)
    op, n, off = buf[0] & 0x0f, buf[1] & 0x7f, 2
    if n == 126:
        need(4); n = struct.unpack('>H', buf[2:4])[0]; off = 4
    need(off + n)
    payload, buf = buf[off:off + n], buf[off + n:]
    return op, payload
def send(op, payload):
    mask = os.urandom(4)
    s.sendall(bytes([0x80 | op, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
def event():
    op, payload = recv_frame()
    if op == 8:
        return ['close', struct.unpack('>H', payload[:2])[0] if len(payload) >= 2 else 1005]
    return ['text', payload.decode()]
try:
    for m in msgs:
        send(1, m.encode())
        out['events'].append(event())
        if out['events'][-1][0] == 'close':
            break
    else:
        send(8, struct.pack('>H', 1000))
        out['events'].append(event())
except Exception as e:
    out['events'].append(['error', repr(e)])
print(label, json.dumps(out))
"#;

/// The echo server on the host; killed when dropped.
struct Origin {
    child: Child,
    port: u16,
}

impl Origin {
    fn start(dir: &WorldDir) -> Origin {
        let script = dir.file("origin.py", ORIGIN_PY);
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path().join("origin.log"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the origin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("origin port");
        let port = line.trim().parse().expect("the origin prints its port");
        Origin { child, port }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn absolute_form_websocket_upgrades_are_relayed_and_text_messages_decided() {
    require(PYTHON);
    for mode in MODES {
        let dir = WorldDir::new(true);
        let origin = Origin::start(&dir);
        let p = origin.port;
        dir.file("ws.py", CLIENT_PY);
        let policy = policy_file(
            &dir,
            "policy.yaml",
            &format!(
                "network_policies:\n  chat:\n    endpoints:\n      - host: ws.test\n        port: {p}\n        \
                 protocol: websocket\n        rules:\n          - allow: {{method: GET, path: \"/ws/**\"}}\n          \
                 - allow: {{method: WEBSOCKET_TEXT, path: \"/ws/chat/**\"}}\n    \
                 binaries:\n      - {{path: \"/**\"}}\n"
            ),
        );
        let audit = dir.path().join("audit.jsonl");
        let script = format!(
            "python3 ws.py chat ws.test {p} /ws/chat/1 '[\"hello\", \"second\"]'\n\
             python3 ws.py feed ws.test {p} /ws/feed/1 '[\"leak this\"]'\n\
             python3 ws.py private ws.test {p} /private '[\"hello\"]'\n"
        );
        let run = cordon(
            mode,
            [
                "run",
                "--policy",
                &policy,
                "--audit",
                audit.to_str().unwrap(),
                "--workdir",
                dir.path().to_str().unwrap(),
                "--add-host",
                "ws.test:127.0.0.1",
                "--",
                "/bin/sh",
                "-c",
                &script,
            ],
        )
        .run();
        let out = run.ok();
        let ctx = format!("{mode:?}: {run:#?}");
        let parse = |label: &str| -> Value { serde_json::from_str(result(out, label)).unwrap() };

        // Allowed: the 101 keeps its upgrade headers and text messages are echoed.
        let chat = parse("chat");
        assert!(chat["status"].as_str().unwrap().contains(" 101 "), "{ctx}");
        assert_eq!(chat["upgrade"], "websocket", "{ctx}");
        assert_eq!(chat["connection"], "Upgrade", "{ctx}");
        assert_eq!(chat["accept_ok"], true, "{ctx}");
        assert_eq!(
            chat["events"],
            json!([
                ["text", "echo:hello"],
                ["text", "echo:second"],
                ["close", 1000]
            ]),
            "{ctx}"
        );
        // Denied twin on the same endpoint: the upgrade is allowed, the text message
        // is not, and the connection is closed with 1008 instead of relaying it.
        let feed = parse("feed");
        assert!(feed["status"].as_str().unwrap().contains(" 101 "), "{ctx}");
        assert_eq!(feed["events"], json!([["close", 1008]]), "{ctx}");
        // An upgrade on a path no rule allows never reaches the server.
        let private = parse("private");
        assert!(
            private["status"].as_str().unwrap().contains(" 403 "),
            "{ctx}"
        );

        let seen = std::fs::read_to_string(dir.path().join("origin.log")).unwrap();
        assert!(
            seen.contains("request GET /ws/chat/1 HTTP/1.1 upgrade=websocket connection=Upgrade"),
            "the server got the upgrade headers: {seen}"
        );
        assert!(seen.contains("ws:hello"), "{seen}");
        assert!(!seen.contains("leak this"), "{seen}");
        assert!(!seen.contains("/private"), "{seen}");

        let lines = audit_lines(&audit);
        let ws = decisions_for(&lines, "ws.test");
        let upgrade = ws
            .iter()
            .find(|l| {
                l["http_request"]["url"]["path"] == "/ws/chat/1"
                    && l["http_request"]["http_method"] == "GET"
            })
            .unwrap_or_else(|| panic!("{ws:#?}"));
        assert_eq!(upgrade["unmapped"]["action"], "allow", "{upgrade}");
        assert_eq!(upgrade["http_response"]["code"], 101, "{upgrade}");
        assert_eq!(
            upgrade["http_request"]["url"]["scheme"], "http",
            "{upgrade}"
        );
        assert!(
            upgrade["status_detail"]
                .as_str()
                .unwrap()
                .contains("2 text messages"),
            "{upgrade}"
        );
        let denied = ws
            .iter()
            .find(|l| l["http_request"]["http_method"] == "WEBSOCKET_TEXT")
            .unwrap_or_else(|| panic!("{ws:#?}"));
        assert_eq!(denied["unmapped"]["action"], "deny", "{denied}");
        assert_eq!(
            denied["http_request"]["url"]["path"], "/ws/feed/1",
            "{denied}"
        );
        assert_eq!(denied["http_response"]["code"], 1008, "{denied}");
        assert!(
            !std::fs::read_to_string(&audit)
                .unwrap()
                .contains("leak this"),
            "message text never reaches the log"
        );
    }
}
