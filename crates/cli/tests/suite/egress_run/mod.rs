//! The egress proxy inside `cordon run`, end to end: real clients (curl, python3
//! urllib, git, node) in real sandboxes, as root and rootless, reaching test servers on
//! the host's 127.0.0.1 only through the proxy and only as the policy says. Names are
//! pointed at 127.0.0.1 with `--add-host`; an exact name in the policy makes that
//! loopback address reachable, a wildcard never does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod clients;
mod private_net;
mod reload;
pub mod server;
mod ssrf;
mod websocket;

use std::ffi::OsString;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::common::{Mode, NOBODY, WorldDir, cordon_bin, policy_yaml, require};

/// One `network_policies` entry: its key, its `(host, port)` endpoints, its binaries.
pub type Entry<'a> = (&'a str, &'a [(&'a str, u16)], &'a [&'a str]);

/// `network_policies:` with the given entries.
pub fn network(entries: &[Entry<'_>]) -> String {
    let mut yaml = String::from("network_policies:\n");
    for (name, hosts, binaries) in entries {
        yaml.push_str(&format!("  {name}:\n    endpoints:\n"));
        for (host, port) in *hosts {
            yaml.push_str(&format!("      - {{ host: \"{host}\", port: {port} }}\n"));
        }
        yaml.push_str("    binaries:\n");
        for binary in *binaries {
            yaml.push_str(&format!("      - {{ path: \"{binary}\" }}\n"));
        }
    }
    yaml
}

/// A world-readable policy file with the default filesystem section and `network`.
pub fn policy_file(dir: &WorldDir, file: &str, network: &str) -> String {
    dir.file(file, &policy_yaml(&[], &[], network))
        .display()
        .to_string()
}

/// Every line of an audit file, parsed.
pub fn audit_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Audit lines of network decisions for `host`.
pub fn decisions_for<'a>(lines: &'a [Value], host: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["dst_endpoint"]["hostname"] == host)
        .collect()
}

/// `curl` inside the sandbox printing `CODE BODY` on one line (body without newline).
pub fn curl_line(label: &str, args: &str) -> String {
    format!(
        "printf '{label} '; curl -sS -o /tmp/body -w '%{{http_code}} ' {args} 2>/dev/null; \
         tr -d '\\n' < /tmp/body 2>/dev/null; echo\n"
    )
}

/// Finds the output line starting with `label ` and returns the rest.
#[track_caller]
pub fn result<'a>(stdout: &'a str, label: &str) -> &'a str {
    let prefix = format!("{label} ");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {label} line in:\n{stdout}"))
}

/// The 403 body of a denial, parsed.
#[track_caller]
pub fn denial(line: &str) -> Value {
    let body = line
        .strip_prefix("403 ")
        .unwrap_or_else(|| panic!("expected a 403 JSON denial, got {line:?}"));
    serde_json::from_str(body).unwrap()
}

/// `cordon <args>` as `mode`, started in the background with piped stdout/stderr.
pub fn spawn_cordon(mode: Mode, args: &[OsString]) -> Child {
    let bin = cordon_bin(mode);
    let mut cmd = match mode {
        Mode::Root => Command::new(bin),
        Mode::Rootless => {
            require("setpriv");
            let mut cmd = Command::new("setpriv");
            cmd.args([
                format!("--reuid={NOBODY}"),
                format!("--regid={NOBODY}"),
                "--clear-groups".into(),
            ]);
            cmd.arg(bin);
            cmd
        }
    };
    cmd.args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn cordon")
}
