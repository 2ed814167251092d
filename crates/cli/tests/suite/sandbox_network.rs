//! Network escape attempts, each beside an allowed twin, as root and rootless: raw and
//! packet sockets, host loopback TCP (IPv4 and IPv6), host path and abstract unix sockets,
//! DNS. The sandbox's network namespace has only its own loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::common::{MODES, WorldDir, policy_yaml, py, unique};

const EPERM: &str = "1";

fn policy_with(dir: &WorldDir, read_write: &[&Path]) -> String {
    dir.file("policy.yaml", &policy_yaml(&[], read_write, ""))
        .display()
        .to_string()
}

#[test]
fn raw_and_packet_sockets_are_denied() {
    let code = "import socket\n\
def try_(name, *a):\n    try:\n        socket.socket(*a).close()\n        print(name, 'ok')\n    \
except OSError as e:\n        print(name, e.errno)\n\
try_('raw', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n\
try_('raw6', socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)\n\
try_('packet', socket.AF_PACKET, socket.SOCK_RAW, 0)\n\
try_('packet_dgram', socket.AF_PACKET, socket.SOCK_DGRAM, 0)\n\
try_('udp', socket.AF_INET, socket.SOCK_DGRAM)\n\
try_('unix', socket.AF_UNIX, socket.SOCK_STREAM)\n";
    for mode in MODES {
        let out = py(mode, &[], code);
        let out = out.ok();
        for denied in ["raw", "raw6", "packet", "packet_dgram"] {
            assert!(
                out.contains(&format!("{denied} {EPERM}\n")),
                "{mode:?}: {out}"
            );
        }
        // Twins: ordinary sockets of the same families.
        assert!(
            out.contains("udp ok\n") && out.contains("unix ok\n"),
            "{mode:?}: {out}"
        );
    }
}

fn connect_code(family: &str, host: &str, port: u16, listen_inside: bool) -> String {
    format!(
        "import socket\ns = socket.socket(socket.{family}, socket.SOCK_STREAM)\n\
         if {listen_inside}:\n    l = socket.socket(socket.{family}, socket.SOCK_STREAM)\n    \
         l.bind(('{host}', {port}))\n    l.listen(1)\n\
         try:\n    s.connect(('{host}', {port}))\n    print('connected')\n\
         except OSError as e:\n    print('refused', e.errno)\n",
        listen_inside = if listen_inside { "True" } else { "False" }
    )
}

#[test]
fn host_tcp_services_on_loopback_are_unreachable() {
    let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
    let (p4, p6) = (
        v4.local_addr().unwrap().port(),
        v6.local_addr().unwrap().port(),
    );
    for mode in MODES {
        for (family, host, port) in [("AF_INET", "127.0.0.1", p4), ("AF_INET6", "::1", p6)] {
            let out = py(mode, &[], &connect_code(family, host, port, false));
            assert!(out.ok().starts_with("refused"), "{mode:?} {host}: {out:?}");
            // Twin: the sandbox's own loopback works on the same address and port.
            let out = py(mode, &[], &connect_code(family, host, port, true));
            assert_eq!(out.ok(), "connected\n", "{mode:?} {host}");
        }
    }
}

#[test]
fn a_host_unix_socket_is_unreachable_unless_listed() {
    let dir = WorldDir::new(true);
    let path = dir.path().join("host.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let code = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('{}')\n    \
         print('connected')\nexcept OSError as e:\n    print('failed', e.errno)\n",
        path.display()
    );
    for mode in MODES {
        let out = py(mode, &[], &code);
        assert!(out.ok().starts_with("failed"), "{mode:?}: {out:?}");
        // Twin: listing the directory makes the very same socket reachable.
        let policy = policy_with(&dir, &[dir.path()]);
        let out = py(mode, &["--policy", &policy], &code);
        assert_eq!(out.ok(), "connected\n", "{mode:?}");
    }
}

#[test]
fn a_host_abstract_unix_socket_is_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    let name = unique("cordon-abstract");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    for mode in MODES {
        for inside in [false, true] {
            let code = format!(
                "import socket\nif {inside}:\n    l = socket.socket(socket.AF_UNIX)\n    \
                 l.bind('\\0{name}')\n    l.listen(1)\ns = socket.socket(socket.AF_UNIX)\n\
                 try:\n    s.connect('\\0{name}')\n    print('connected')\n\
                 except OSError as e:\n    print('failed', e.errno)\n",
                inside = if inside { "True" } else { "False" }
            );
            let out = py(mode, &[], &code);
            let want = if inside { "connected" } else { "failed" };
            // Twin (inside = true): an abstract socket of the sandbox's own works.
            assert!(
                out.ok().starts_with(want),
                "{mode:?} inside={inside}: {out:?}"
            );
        }
    }
}

#[test]
fn dns_resolution_fails_but_local_names_resolve() {
    let code = "import socket\n\
for h in ['example.com', 'localhost']:\n    try:\n        socket.getaddrinfo(h, 80)\n        \
print(h, 'resolved')\n    except OSError as e:\n        print(h, 'failed')\n";
    for mode in MODES {
        let out = py(mode, &[], code);
        let out = out.ok();
        assert!(out.contains("example.com failed"), "{mode:?}: {out}");
        // Twin: /etc/hosts still answers.
        assert!(out.contains("localhost resolved"), "{mode:?}: {out}");
    }
}
