//! Test harness: a proxy in this process, test servers on loopback, real clients.

#![allow(dead_code)]

pub mod servers;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cordon_audit::{AuditLog, AuditLogOptions};
use cordon_egress::{
    DnsMode, EgressConfig, EgressProxy, Limits, PeerScope, PolicyHandle, PolicyWatcher, RelayMode,
    StaticHosts,
};
use cordon_policy::CompiledPolicy;
use serde_json::Value;

/// One proxy with its audit log and policy file in a temp dir.
pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub proxy: Option<EgressProxy>,
    pub addr: SocketAddr,
    pub audit: Option<AuditLog>,
    pub audit_path: PathBuf,
    pub policy_path: PathBuf,
    pub watcher: Option<PolicyWatcher>,
}

/// Options for [`Env::start_with`].
pub struct Options<'a> {
    pub hosts: &'a [&'a str],
    pub limits: Limits,
    pub relay: RelayMode,
    /// TLS inspection (the sandbox CA) for `protocol: rest|websocket` endpoints.
    pub inspection: Option<cordon_egress::l7::Inspection>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            hosts: &[],
            limits: Limits::default(),
            relay: RelayMode::Splice,
            inspection: None,
        }
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn compile(yaml: &str) -> CompiledPolicy {
    let loaded = cordon_policy::parse_str(yaml, "<test>")
        .unwrap_or_else(|e| panic!("test policy invalid:\n{e}\n{yaml}"));
    CompiledPolicy::compile(&loaded.policy).unwrap()
}

impl Env {
    pub fn start(policy: &str, hosts: &[&str]) -> Env {
        Env::start_with(
            policy,
            Options {
                hosts,
                ..Options::default()
            },
        )
    }

    pub fn start_with(policy: &str, options: Options<'_>) -> Env {
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap();
        let policy_path = dir.path().join("policy.yaml");
        std::fs::write(&policy_path, policy).unwrap();
        let audit_path = dir.path().join("audit.jsonl");
        let audit = AuditLog::open(&audit_path, AuditLogOptions::default()).unwrap();
        let mut hosts = StaticHosts::new();
        for entry in options.hosts {
            hosts.add_entry(entry).unwrap();
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = EgressConfig::new(
            "test-sandbox",
            listener,
            PolicyHandle::new(compile(policy)),
            audit.sink(),
            PeerScope::Host,
        );
        config.hosts = hosts;
        config.dns = DnsMode::Disabled;
        config.limits = options.limits;
        config.relay = options.relay;
        config.inspection = options.inspection;
        let proxy = rt.block_on(async { EgressProxy::start(config) }).unwrap();
        Env {
            rt,
            dir,
            proxy: Some(proxy),
            addr,
            audit: Some(audit),
            audit_path,
            policy_path,
            watcher: None,
        }
    }

    pub fn proxy(&self) -> &EgressProxy {
        self.proxy.as_ref().unwrap()
    }

    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts watching the policy file.
    pub fn watch(&mut self) {
        let proxy = self.proxy();
        self.watcher = Some(
            PolicyWatcher::start(
                &self.policy_path,
                proxy.policy().clone(),
                proxy.audit().clone(),
                "test-sandbox",
            )
            .unwrap(),
        );
    }

    /// Replaces the policy file the way editors do: write a temp file, rename it over.
    pub fn write_policy(&self, yaml: &str) {
        let tmp = self.dir.path().join(".policy.yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, &self.policy_path).unwrap();
    }

    /// Every audit line so far, parsed.
    pub fn audit_lines(&self) -> Vec<Value> {
        self.proxy().audit().flush();
        std::fs::read_to_string(&self.audit_path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l}: {e}")))
            .collect()
    }

    /// Audit lines whose destination host is `host`, waiting briefly for lines written
    /// at connection end.
    pub fn audit_for(&self, host: &str, at_least: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let lines: Vec<Value> = self
                .audit_lines()
                .into_iter()
                .filter(|v| v["dst_endpoint"]["hostname"] == host)
                .collect();
            if lines.len() >= at_least || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn raw_text(&self) -> String {
        self.proxy().audit().flush();
        std::fs::read_to_string(&self.audit_path).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.watcher.take();
        if let Some(proxy) = self.proxy.take() {
            self.rt.block_on(proxy.shutdown());
        }
    }
}

/// Path of a required tool; a missing tool fails the test (never a silent pass).
pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("required tool `{name}` is not installed; run scripts/test as root to install it");
}

/// Runs a command with the proxy variables it was not explicitly given cleared.
pub fn run(cmd: &mut Command) -> Output {
    let set: Vec<String> = cmd
        .get_envs()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    for var in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        if !set.iter().any(|s| s == var) {
            cmd.env_remove(var);
        }
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// curl through the proxy: returns (http status, body). `-p` forces CONNECT.
pub fn curl(env: &Env, args: &[&str]) -> (u16, String) {
    curl_with(&tool("curl"), env, args)
}

pub fn curl_with(curl: &Path, env: &Env, args: &[&str]) -> (u16, String) {
    let out = run(Command::new(curl)
        .args([
            "-sS",
            "--max-time",
            "20",
            "-x",
            &env.proxy_url(),
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
        ])
        .args(args));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Polls `check` until it holds or 5 s pass (reloads are asynchronous); returns
/// whether it held. Not a timing assertion: the bound only keeps a broken build from
/// hanging.
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Runs this test again in a child wrapped by `wrapper` (e.g. `unshare -rn`, `setpriv
/// ...`), with `marker` set in its environment. Returns `true` in the child (go on
/// with the test body); in the parent, asserts the child ran the test and passed, and
/// returns `false`.
pub fn rerun_inside(marker: &str, test_name: &str, wrapper: &[&str]) -> bool {
    if std::env::var_os(marker).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let (program, args) = wrapper.split_first().unwrap();
    let out = run(Command::new(tool(program))
        .args(args)
        .arg(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads", "1"])
        .env(marker, "1"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "inner run of {test_name} under {wrapper:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}
