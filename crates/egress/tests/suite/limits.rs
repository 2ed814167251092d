//! Limits and their behaviour when hit (docs/limits.md): connection limit, oversized
//! request heads, idle tunnels.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cordon_egress::Limits;

use super::common::servers::{EchoServer, HttpServer};
use super::common::{Env, Options, curl, eventually};
use super::forward::any_binary;

fn policy(port: u16) -> String {
    any_binary(&format!(
        "  api:\n    endpoints:\n      - {{ host: api.test, port: {port} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
    ))
}

#[test]
fn connections_over_the_limit_get_503_and_existing_ones_continue() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let env = Env::start_with(
        &policy(srv.port()),
        Options {
            hosts: &["api.test:127.0.0.1"],
            limits,
            ..Options::default()
        },
    );
    let first = TcpStream::connect(env.addr).unwrap();
    let _second = TcpStream::connect(env.addr).unwrap();
    assert!(eventually(|| env.proxy().stats().active_connections == 2));
    let (code, body) = curl(&env, &[&format!("http://api.test:{}/", srv.port())]);
    assert_eq!(code, 503);
    assert!(body.contains("too_many_connections"), "{body}");
    assert_eq!(env.proxy().stats().rejected_connections, 1);
    // Twin: with a slot free again, requests go through.
    drop(first);
    assert!(eventually(|| curl(
        &env,
        &[&format!("http://api.test:{}/", srv.port())]
    )
    .0 == 200));
}

#[test]
fn oversized_request_head_gets_431() {
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let env = Env::start(&policy(srv.port()), &["api.test:127.0.0.1"]);
    let big = "a".repeat(cordon_egress::limits::MAX_REQUEST_HEAD_BYTES);
    let (code, _) = curl(
        &env,
        &[
            "-H",
            &format!("X-Big: {big}"),
            &format!("http://api.test:{}/", srv.port()),
        ],
    );
    assert_eq!(code, 431);
    // Twin: a large but acceptable header passes.
    let fine = "a".repeat(8 * 1024);
    let (code, _) = curl(
        &env,
        &[
            "-H",
            &format!("X-Big: {fine}"),
            &format!("http://api.test:{}/", srv.port()),
        ],
    );
    assert_eq!(code, 200);
}

#[test]
fn idle_tunnel_is_closed_and_audited() {
    let echo = EchoServer::start();
    let port = echo.addr.port();
    let limits = Limits {
        tunnel_idle_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let env = Env::start_with(
        &policy(port),
        Options {
            hosts: &["api.test:127.0.0.1"],
            limits,
            ..Options::default()
        },
    );
    let (mut tunnel, head) = super::connect::connect(&env, &format!("api.test:{port}"), b"");
    assert!(head.starts_with("HTTP/1.1 200"));
    tunnel.write_all(b"hi").unwrap();
    let mut buf = [0u8; 2];
    tunnel.read_exact(&mut buf).unwrap();
    tunnel
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        tunnel.read_to_end(&mut rest).unwrap_or(0),
        0,
        "idle tunnel must be closed"
    );
    let lines = env.audit_for("api.test", 1);
    assert_eq!(lines[0]["status_detail"], "closed: idle timeout");
    assert_eq!(lines[0]["traffic"]["bytes_out"], 2);
}
