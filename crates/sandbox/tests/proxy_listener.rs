//! The proxy listener: created inside the sandbox's network namespace, handed to the
//! supervisor, reachable by the agent at its loopback address, and served from outside.
//! Runs as root, then again as uid 65534 through `setpriv` (rootless).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::io::{Read, Write};

use cordon_sandbox::{Identity, LandlockMode, Resources, Sandbox, SandboxSpec};

const TEST: &str = "proxy_listener_is_served_from_outside_the_sandbox";

/// The agent connects, says ping, and exits 0 only if the supervisor answered pong.
const AGENT: &str = "import socket, sys\ns = socket.create_connection(('127.0.0.1', 3128))\n\
s.sendall(b'ping')\nsys.exit(0 if s.recv(4) == b'pong' else 3)\n";

fn spec() -> SandboxSpec {
    SandboxSpec {
        name: "listener-test".into(),
        command: vec!["/usr/bin/python3".into(), "-c".into(), AGENT.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        workdir: None,
        read_only: ["/usr", "/lib", "/lib64", "/etc"].map(Into::into).to_vec(),
        read_write: Vec::new(),
        extra_ro_files: Vec::new(),
        landlock: LandlockMode::BestEffort,
        resources: Resources::default(),
        identity: Identity::SANDBOX,
        tty: false,
        stdin: false,
        verbose: false,
        proxy_listen: Some("127.0.0.1:3128".parse().unwrap()),
        transparent: None,
        exec: false,
    }
}

fn check() {
    let mut sandbox = Sandbox::spawn(&spec()).expect("spawn");
    assert!(sandbox.init_pid() > 1);
    let listener = sandbox.take_proxy_listener().expect("listener handed out");
    assert!(sandbox.take_proxy_listener().is_none());
    assert_eq!(listener.local_addr().unwrap().to_string(), "127.0.0.1:3128");
    // Threads are fine once the sandbox exists.
    let server = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        conn.write_all(b"pong").unwrap();
    });
    let status = sandbox.wait().expect("wait");
    assert_eq!(status.code(), 0, "the agent did not get pong");
    server.join().unwrap();
}

fn main() {
    support::run_root_and_rootless(TEST, check);
}
