//! Wildcard hosts and port lists reaching a server for real. A wildcard never reaches
//! loopback, and `allowed_ips` may not list it, so this test builds a network namespace
//! of its own (`unshare -n`, as root) with a private address on `lo`, serves it with
//! python's http.server there, and runs cordon (as root and rootless) inside it: the
//! proxy dials from that namespace, the host's network is never touched.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use super::{policy_file, result};
use crate::suite::common::{Mode, NOBODY, WorldDir, cordon_bin, require};

const ADDR: &str = "10.77.0.1";

#[test]
fn wildcard_hosts_and_port_lists_with_allowed_ips() {
    for tool in ["unshare", "ip", "setpriv", "/usr/bin/python3", "curl"] {
        require(tool);
    }
    let dir = WorldDir::new(false);
    let (p1, p2, p3) = (18601, 18602, 18603);
    let policy = policy_file(
        &dir,
        "policy.yaml",
        &format!(
            "network_policies:\n  wild:\n    endpoints:\n      \
             - {{ host: \"*.wild.test\", ports: [{p1}, {p2}], allowed_ips: [\"10.77.0.0/24\"] }}\n      \
             - {{ host: \"*.unlisted.test\", port: {p1} }}\n    binaries:\n      - {{ path: \"/**\" }}\n"
        ),
    );
    let mut inside = String::new();
    for (label, url) in [
        ("first_port", format!("http://a.wild.test:{p1}/")),
        ("second_port", format!("http://a.wild.test:{p2}/")),
        ("port_not_listed", format!("http://a.wild.test:{p3}/")),
        ("two_labels", format!("http://b.a.wild.test:{p1}/")),
        ("bare_parent", format!("http://wild.test:{p1}/")),
        ("no_allowed_ips", format!("http://a.unlisted.test:{p1}/")),
    ] {
        inside.push_str(&format!(
            "printf '{label} '; curl -sS -o /dev/null -w '%{{http_code}}' {url} 2>/dev/null; echo; "
        ));
    }
    let hosts: String = [
        "a.wild.test",
        "b.a.wild.test",
        "wild.test",
        "a.unlisted.test",
    ]
    .iter()
    .map(|h| format!("--add-host {h}:{ADDR} "))
    .collect();
    let cordon_args = format!("run --policy {policy} {hosts} -- /bin/sh -c \"{inside}\"");
    let script = format!(
        "set -e\nip link set lo up\nip addr add {ADDR}/32 dev lo\n\
         for port in {p1} {p2}; do python3 -m http.server $port --bind {ADDR} --directory / >/dev/null 2>&1 & pids=\"$pids $!\"; done\n\
         for i in $(seq 100); do python3 -c 'import socket; [socket.create_connection((\"{ADDR}\", p)) for p in ({p1}, {p2})]' 2>/dev/null && break; sleep 0.05; done\n\
         echo '== root'\n{root} {cordon_args}\n\
         echo '== rootless'\nsetpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups {rootless} {cordon_args}\n\
         kill $pids\n",
        root = cordon_bin(Mode::Root).display(),
        rootless = cordon_bin(Mode::Rootless).display(),
    );
    let out = Command::new("unshare")
        .args(["-n", "--", "/bin/sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    let (root, rootless) = stdout.split_once("== rootless").unwrap();
    for (mode, text) in [("root", root), ("rootless", rootless)] {
        let ctx = format!("{mode}: {out:?}");
        assert_eq!(result(text, "first_port"), "200", "{ctx}");
        assert_eq!(result(text, "second_port"), "200", "{ctx}");
        assert_eq!(result(text, "port_not_listed"), "403", "{ctx}");
        // `*.` is exactly one label: neither deeper names nor the parent match.
        assert_eq!(result(text, "two_labels"), "403", "{ctx}");
        assert_eq!(result(text, "bare_parent"), "403", "{ctx}");
        // A wildcard without allowed_ips never reaches a private address.
        assert_eq!(result(text, "no_allowed_ips"), "403", "{ctx}");
    }
}
