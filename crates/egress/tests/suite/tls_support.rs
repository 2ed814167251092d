//! Shared pieces of the TLS/L7 tests: an HTTPS origin with its own CA (minted per
//! test, passed to the proxy as the extra upstream CA), a sandbox CA for the proxy,
//! curl and python3 clients over CONNECT.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use cordon_egress::l7::Inspection;
use cordon_egress::l7::ws_frame::{
    FrameHeader, OP_CLOSE, OP_PING, OP_TEXT, apply_mask, close_frame,
};
use cordon_egress::tls::{LeafCache, SandboxCa, UpstreamTls};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::common::{Env, Options, run, tool};

/// An HTTPS (and WebSocket) origin on 127.0.0.1 presenting leaves from its own CA
/// for whatever name the client asks. Answers `origin METHOD PATH?QUERY len=N`;
/// `/crash` drops the connection without answering; WebSocket upgrades echo text
/// messages as `echo:TEXT`. Records every request line and every text message.
pub struct Origin {
    pub addr: SocketAddr,
    pub ca_pem: String,
    seen: Arc<Mutex<Vec<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl Origin {
    pub fn start() -> Origin {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let ca = Arc::new(SandboxCa::generate().unwrap());
        let ca_pem = ca.cert_pem().to_owned();
        let leaves = Arc::new(LeafCache::new(ca));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_task = Arc::clone(&seen);
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let leaves = Arc::clone(&leaves);
                let seen = Arc::clone(&seen_task);
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::LazyConfigAcceptor::new(
                        rustls::server::Acceptor::default(),
                        tcp,
                    );
                    let Ok(start) = acceptor.await else { return };
                    let name = start
                        .client_hello()
                        .server_name()
                        .unwrap_or("127.0.0.1")
                        .to_owned();
                    let Ok(config) = leaves.server_config(&name) else {
                        return;
                    };
                    let Ok(tls) = start.into_stream(config).await else {
                        return;
                    };
                    let service = service_fn(move |req| respond(Arc::clone(&seen), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Origin {
            addr,
            ca_pem,
            seen,
            _rt: rt,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Request lines (`METHOD PATH?QUERY host=HOST`) and `ws:TEXT` messages seen.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

type Body = Full<Bytes>;

async fn respond(
    seen: Arc<Mutex<Vec<String>>>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    seen.lock()
        .unwrap()
        .push(format!("{} {target} host={host}", req.method()));
    if req.uri().path() == "/crash" {
        return Err(std::io::Error::other("crash on purpose"));
    }
    if req
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        let key = req
            .headers()
            .get("sec-websocket-key")
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        let extensions = req.headers().contains_key("sec-websocket-extensions");
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                echo_websocket(TokioIo::new(upgraded), seen).await;
            }
        });
        let mut accept_input = key;
        accept_input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert("connection", "Upgrade".parse().unwrap());
        h.insert(
            "sec-websocket-accept",
            base64(&sha1(&accept_input)).parse().unwrap(),
        );
        h.insert(
            "x-saw-extensions",
            if extensions { "yes" } else { "no" }.parse().unwrap(),
        );
        return Ok(resp);
    }
    let len = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    Ok(Response::new(Full::new(Bytes::from(format!(
        "origin {target} len={len}"
    )))))
}

/// Echoes client text messages as `echo:TEXT`, answers pings, returns close frames.
async fn echo_websocket<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut io: S,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = BytesMut::new();
    loop {
        while let Ok(Some(h)) = FrameHeader::parse(&buf) {
            let total = h.header_len + h.len as usize;
            if buf.len() < total {
                break;
            }
            let frame = buf.split_to(total);
            let mut payload = frame[h.header_len..].to_vec();
            if let Some(key) = h.mask {
                apply_mask(&mut payload, key, 0);
            }
            match h.opcode {
                OP_TEXT => {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    seen.lock().unwrap().push(format!("ws:{text}"));
                    let reply = format!("echo:{text}");
                    let mut out = vec![0x81, reply.len() as u8];
                    out.extend_from_slice(reply.as_bytes());
                    if io.write_all(&out).await.is_err() {
                        return;
                    }
                }
                OP_PING => {
                    let mut out = vec![0x8A, payload.len() as u8];
                    out.extend_from_slice(&payload);
                    let _ = io.write_all(&out).await;
                }
                OP_CLOSE => {
                    let code = payload
                        .get(..2)
                        .map_or(1000, |c| u16::from_be_bytes([c[0], c[1]]));
                    seen.lock().unwrap().push(format!("ws-close:{code}"));
                    let _ = io.write_all(&close_frame(code, "", None)).await;
                    let _ = io.shutdown().await;
                    return;
                }
                _ => {}
            }
        }
        let mut chunk = [0u8; 4096];
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Files the clients need: the sandbox CA (what sandboxed clients trust) and the
/// origin's CA (what a client pinning its own CA trusts).
pub struct Trust {
    pub sandbox_ca: PathBuf,
    pub origin_ca: PathBuf,
    _dir: tempfile::TempDir,
}

/// A proxy inspecting with a fresh sandbox CA, verifying upstreams against the
/// system roots plus the origin's CA. `hosts` are pinned to 127.0.0.1.
pub fn start(policy: &str, origin: &Origin, hosts: &[&str]) -> (Env, Trust) {
    start_with_upstream(
        policy,
        origin,
        hosts,
        UpstreamTls::new(Some(&origin.ca_pem)).unwrap(),
    )
}

pub fn start_with_upstream(
    policy: &str,
    origin: &Origin,
    hosts: &[&str],
    upstream: UpstreamTls,
) -> (Env, Trust) {
    let sandbox_ca = Arc::new(SandboxCa::generate().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let sandbox_path = dir.path().join("sandbox-ca.pem");
    std::fs::write(&sandbox_path, sandbox_ca.cert_pem()).unwrap();
    let origin_path = dir.path().join("origin-ca.pem");
    std::fs::write(&origin_path, &origin.ca_pem).unwrap();
    let pins: Vec<String> = hosts.iter().map(|h| format!("{h}:127.0.0.1")).collect();
    let pins: Vec<&str> = pins.iter().map(String::as_str).collect();
    let env = Env::start_with(
        policy,
        Options {
            hosts: &pins,
            inspection: Some(Inspection::new(sandbox_ca, upstream)),
            ..Options::default()
        },
    );
    (
        env,
        Trust {
            sandbox_ca: sandbox_path,
            origin_ca: origin_path,
            _dir: dir,
        },
    )
}

/// curl over the proxy trusting `ca`: (status, body, curl exit code, stderr).
pub fn curl_https(env: &Env, ca: &PathBuf, args: &[&str]) -> (u16, String, i32, String) {
    let out = run(Command::new(tool("curl"))
        .args([
            "-sS",
            "--max-time",
            "20",
            "-x",
            &env.proxy_url(),
            "--cacert",
        ])
        .arg(ca)
        .args(["-o", "-", "-w", "\n%{http_code}"])
        .args(args));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        body.to_owned(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a python3 script with arguments; returns its stdout parsed as JSON.
pub fn python_json(script: &str, args: &[String]) -> Value {
    let out = run(Command::new(tool("python3"))
        .arg("-c")
        .arg(script)
        .args(args));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("bad python output {stdout}: {e}"))
}

/// Python: CONNECT through the proxy, TLS with the sandbox CA (SNI as given), send
/// raw request bytes (hex), print the status lines and bodies received.
/// argv: proxy_port host port cafile sni request_hex
pub const PY_RAW_TLS: &str = r#"
import json, re, socket, ssl, sys
proxy_port, host, port, cafile, sni, raw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], bytes.fromhex(sys.argv[6])
s = socket.create_connection(('127.0.0.1', int(proxy_port)), timeout=10)
s.sendall(f'CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n'.encode())
resp = b''
while b'\r\n\r\n' not in resp:
    resp += s.recv(4096)
ctx = ssl.create_default_context(cafile=cafile)
try:
    t = ctx.wrap_socket(s, server_hostname=sni)
except Exception as e:
    print(json.dumps({'handshake_error': str(e)})); sys.exit(0)
t.sendall(raw)
data = b''
try:
    while True:
        chunk = t.recv(65536)
        if not chunk:
            break
        data += chunk
    error = None
except Exception as e:
    error = repr(e)
text = data.decode(errors='replace')
print(json.dumps({'raw': text, 'error': error, 'statuses': re.findall(r'HTTP/1\.1 \d{3}[^\r]*', text)}))
"#;

/// Python: WebSocket client over CONNECT + TLS. Sends each message as a text frame
/// and reads one frame back; reports the 101 status, whether Sec-WebSocket-Accept
/// was right, and each reply (`["text", s]` or `["close", code]`).
/// argv: proxy_port host port cafile path messages_json
pub const PY_WEBSOCKET: &str = r#"
import base64, hashlib, json, os, socket, ssl, struct, sys
proxy_port, host, port, cafile, path, msgs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], json.loads(sys.argv[6])
s = socket.create_connection(('127.0.0.1', int(proxy_port)), timeout=10)
s.sendall(f'CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n'.encode())
resp = b''
while b'\r\n\r\n' not in resp:
    resp += s.recv(4096)
t = ssl.create_default_context(cafile=cafile).wrap_socket(s, server_hostname=host)
key = base64.b64encode(os.urandom(16)).decode()
t.sendall((f'GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
           f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n').encode())
buf = b''
while b'\r\n\r\n' not in buf:
    chunk = t.recv(4096)
    if not chunk:
        break
    buf += chunk
head, _, buf = buf.partition(b'\r\n\r\n')
head = head.decode(errors='replace')
out = {'status': head.split('\r\n')[0], 'events': []}
if ' 101 ' not in out['status']:
    out['body'] = buf.decode(errors='replace')
    print(json.dumps(out)); sys.exit(0)
want = base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()
out['accept_ok'] = ('sec-websocket-accept: ' + want.lower()) in head.lower()
out['origin_saw_extensions'] = 'x-saw-extensions: yes' in head.lower()
def need(n):
    global buf
    while len(buf) < n:
        chunk = t.recv(65536)
        if not chunk:
            raise EOFError()
        buf += chunk
def recv_frame():
    global buf
    need(2)
    op, n = buf[0] & 0x0f, buf[1] & 0x7f
    off = 2
    if n == 126:
        need(4); n = struct.unpack('>H', buf[2:4])[0]; off = 4
    elif n == 127:
        need(10); n = struct.unpack('>Q', buf[2:10])[0]; off = 10
    need(off + n)
    payload, buf = buf[off:off + n], buf[off + n:]
    return op, payload
def send(op, payload):
    mask = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack('>H', n))
    t.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
closed = False
for m in msgs:
    send(1, m.encode())
    try:
        op, payload = recv_frame()
    except Exception:
        out['events'].append(['eof']); closed = True; break
    if op == 1:
        out['events'].append(['text', payload.decode()])
    elif op == 8:
        out['events'].append(['close', struct.unpack('>H', payload[:2])[0] if len(payload) >= 2 else None, payload[2:].decode(errors='replace')])
        closed = True
        break
if not closed:
    send(8, struct.pack('>H', 1000))
    try:
        op, payload = recv_frame()
        out['events'].append(['close', struct.unpack('>H', payload[:2])[0] if len(payload) >= 2 else None, ''])
    except Exception:
        out['events'].append(['eof'])
print(json.dumps(out))
"#;

/// Audit lines for `host` whose HTTP method is `method` (waits for lines written
/// at response end).
pub fn http_lines(env: &Env, host: &str, method: &str, at_least: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let lines: Vec<Value> = env
            .audit_for(host, 0)
            .into_iter()
            .filter(|v| v["http_request"]["http_method"] == method)
            .collect();
        if lines.len() >= at_least || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn sha1_and_base64_match_rfc_6455_example() {
    let accept = base64(&sha1(
        b"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
    ));
    assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
