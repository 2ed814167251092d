//! Transparent capture at the sandbox layer: the agent dials outside addresses
//! directly (no proxy), and the connections arrive on the capture listener the
//! supervisor was handed, with their original destination readable through
//! `SO_ORIGINAL_DST`; UDP to port 53 anywhere reaches the DNS socket; other UDP is
//! refused. Each refusal has an allowed twin on the same mechanism. Runs as root,
//! then again as uid 65534 through `setpriv` (rootless).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;

use cordon_sandbox::{
    CaptureSpec, Identity, LandlockMode, Notice, Resources, Sandbox, SandboxSpec,
};

const TEST: &str = "capture_redirects_tcp_and_dns_to_the_supervisor";

/// The agent: two TCP dials (IPv4 and IPv6) that must be answered by the supervisor
/// with the destination it saw, one DNS-port datagram that must come back, one UDP
/// datagram to another port that must fail, and a dial of the capture listener itself.
const AGENT: &str = r#"
import os, socket, sys
# The capture rules' helper process must not have taken the agent's pid.
assert os.getpid() == 2, os.getpid()
def dial(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(addr)
    s.sendall(b'hello')
    return s.recv(200).decode()
got = dial(socket.AF_INET, ('198.18.0.7', 443))
assert got == '198.18.0.7:443', got
got = dial(socket.AF_INET6, ('fd00::7', 8443))
assert got == '[fd00::7]:8443', got
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(10)
u.sendto(b'query', ('8.8.8.8', 53))
data, peer = u.recvfrom(100)
assert data == b'answer' and peer == ('8.8.8.8', 53), (data, peer)
# The blocked twin: UDP to any other port is refused at once, never delivered.
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    v.sendto(b'ntp', ('8.8.8.8', 123))
    sys.exit(4)
except OSError:
    pass
print('agent ok', flush=True)
"#;

fn spec() -> SandboxSpec {
    SandboxSpec {
        name: "capture-test".into(),
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
        proxy_listen: None,
        transparent: Some(CaptureSpec::DEFAULT),
        exec: false,
    }
}

/// Answers one redirected connection with the original destination it read.
fn answer_one(listener: std::net::TcpListener) {
    listener.set_nonblocking(false).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let original: SocketAddr = match conn.local_addr().unwrap() {
        SocketAddr::V4(_) => rustix::net::sockopt::ip_original_dst(&conn).unwrap().into(),
        SocketAddr::V6(_) => rustix::net::sockopt::ipv6_original_dst(&conn)
            .unwrap()
            .into(),
    };
    let mut hello = [0u8; 5];
    conn.read_exact(&mut hello).unwrap();
    conn.write_all(original.to_string().as_bytes()).unwrap();
}

fn check() {
    let mut sandbox = Sandbox::spawn(&spec()).expect("spawn");
    let capture = sandbox.take_capture().expect("capture sockets handed out");
    assert!(sandbox.take_capture().is_none());
    assert!(capture.active, "capture inactive: {}", capture.detail);
    assert!(capture.ipv6, "{}", capture.detail);
    assert!(
        sandbox
            .notices()
            .iter()
            .any(|n| matches!(n, Notice::Layer(l) if l.starts_with("transparent capture: active"))),
        "{:?}",
        sandbox.notices()
    );
    assert_eq!(capture.tcp.len(), 2, "IPv4 and IPv6 listeners");
    assert_eq!(
        capture.tcp[0].local_addr().unwrap().to_string(),
        "127.0.0.1:3129"
    );
    assert_eq!(
        capture.dns.local_addr().unwrap().to_string(),
        "127.0.0.1:53"
    );
    let mut tcp = capture.tcp.into_iter();
    let (v4, v6) = (tcp.next().unwrap(), tcp.next().unwrap());
    let servers = [
        std::thread::spawn(move || answer_one(v4)),
        std::thread::spawn(move || answer_one(v6)),
    ];
    let dns = capture.dns;
    let dns_server = std::thread::spawn(move || {
        dns.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 100];
        let (n, from) = dns.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"query");
        dns.send_to(b"answer", from).unwrap();
    });
    let status = sandbox.wait().expect("wait");
    assert_eq!(status.code(), 0, "the agent's checks failed");
    for server in servers {
        server.join().unwrap();
    }
    dns_server.join().unwrap();
}

fn main() {
    support::run_root_and_rootless(TEST, check);
}
