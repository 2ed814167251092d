//! CONNECT tunnels: allowed and denied, eager client data, both relay modes.

use std::io::{Read, Write};
use std::net::TcpStream;

use cordon_egress::RelayMode;
use serde_json::Value;

use super::common::servers::{EchoServer, HttpServer};
use super::common::{Env, Options, curl};
use super::forward::any_binary;

/// Sends a CONNECT and returns the response head and whatever body came with it.
pub fn connect(env: &Env, authority: &str, extra: &[u8]) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(env.addr).unwrap();
    let mut request =
        format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes();
    request.extend_from_slice(extra);
    stream.write_all(&request).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "proxy closed during the response head"
        );
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

fn body_of(stream: &mut TcpStream, head: &str) -> String {
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

fn policy(port: u16) -> String {
    any_binary(&format!(
        "  api:\n    endpoints:\n      - {{ host: api.test, port: {port} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ))
}

#[test]
fn tunnel_to_allowed_host_relays_and_is_audited_at_close() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let env = Env::start(&policy(srv.port()), &["api.test:127.0.0.1"]);
    let (code, body) = curl(
        &env,
        &["-p", &format!("http://api.test:{}/via-tunnel", srv.port())],
    );
    assert_eq!((code, body.as_str()), (200, "srv GET /via-tunnel len=0\n"));
    let lines = env.audit_for("api.test", 1);
    let line = &lines[0];
    assert_eq!(line["class_uid"], 4001);
    assert_eq!(line["activity_name"], "Close");
    assert_eq!(line["unmapped"]["action"], "allow");
    assert_eq!(line["policy"]["name"], "api");
    assert_eq!(line["dst_endpoint"]["ip"], "127.0.0.1");
    assert_eq!(line["actor"]["process"]["file"]["path"], "/usr/bin/curl");
    assert!(line["traffic"]["bytes_out"].as_u64().unwrap() > 0);
    assert!(line["traffic"]["bytes_in"].as_u64().unwrap() > 0);
    assert!(line["duration"].is_u64());
}

#[test]
fn denied_connect_gets_403_json() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let env = Env::start(
        &policy(srv.port()),
        &["api.test:127.0.0.1", "evil.test:127.0.0.1"],
    );
    let (_, head) = connect(&env, &format!("api.test:{}", srv.port()), b"");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (mut stream, head) = connect(&env, &format!("evil.test:{}", srv.port()), b"");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let v: Value = serde_json::from_str(&body_of(&mut stream, &head)).unwrap();
    assert_eq!(v["error"], "policy_denied");
    assert_eq!(v["host"], "evil.test");
    let lines = env.audit_for("evil.test", 1);
    assert_eq!(lines[0]["activity_name"], "Refuse");
    assert_eq!(lines[0]["unmapped"]["action"], "deny");
}

#[test]
fn bytes_sent_before_the_tunnel_exists_are_delivered() {
    let echo = EchoServer::start();
    let env = Env::start(&policy(echo.addr.port()), &["api.test:127.0.0.1"]);
    let (mut stream, head) = connect(
        &env,
        &format!("api.test:{}", echo.addr.port()),
        b"early bytes",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut echoed = [0u8; 11];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"early bytes");
}

#[test]
fn both_relay_modes_move_large_bodies_intact() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    for relay in [RelayMode::Splice, RelayMode::Copy] {
        let env = Env::start_with(
            &policy(srv.port()),
            Options {
                hosts: &["api.test:127.0.0.1"],
                relay,
                ..Options::default()
            },
        );
        let (code, body) = curl(
            &env,
            &[
                "-p",
                &format!("http://api.test:{}/bytes/5000000", srv.port()),
            ],
        );
        assert_eq!(code, 200, "{relay:?}");
        assert_eq!(body.len(), 5_000_000, "{relay:?}");
        assert!(body.bytes().all(|b| b == b'x'));
        let lines = env.audit_for("api.test", 1);
        assert!(lines[0]["traffic"]["bytes_in"].as_u64().unwrap() > 5_000_000);
    }
}

#[test]
fn tunnels_carry_large_echoed_streams_in_both_modes() {
    // Both directions busy at once, with a slow consumer: exercises full pipes and
    // backpressure in the splice relay.
    let echo = EchoServer::start();
    let port = echo.addr.port();
    for relay in [RelayMode::Splice, RelayMode::Copy] {
        let env = Env::start_with(
            &policy(port),
            Options {
                hosts: &["api.test:127.0.0.1"],
                relay,
                ..Options::default()
            },
        );
        let (stream, head) = connect(&env, &format!("api.test:{port}"), b"");
        assert!(head.starts_with("HTTP/1.1 200"));
        const TOTAL: usize = 16 * 1024 * 1024;
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let block: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
            for _ in 0..TOTAL / block.len() {
                writer.write_all(&block).unwrap();
            }
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut reader = stream;
        let mut received = 0usize;
        let mut buf = vec![0u8; 7919];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(
                    *b,
                    (((received + i) % 65536) % 251) as u8,
                    "{relay:?} byte {}",
                    received + i
                );
            }
            received += n;
            if received % (1 << 20) < n {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        sender.join().unwrap();
        assert_eq!(received, TOTAL, "{relay:?}");
        let lines = env.audit_for("api.test", 1);
        assert_eq!(lines[0]["traffic"]["bytes_out"], TOTAL, "{relay:?}");
        assert_eq!(lines[0]["traffic"]["bytes_in"], TOTAL, "{relay:?}");
    }
}
