//! Harness of the transparent-capture tests: a throwaway network namespace with the
//! capture rules (the same nft ruleset cordon-sandbox installs, `capture/rules.rs`;
//! the sandbox's own installation is tested end to end in the cli suite and
//! `crates/sandbox/tests/capture.rs`), the capture sockets bound inside it, a proxy in
//! this process serving them, and real clients run inside the namespace with
//! `nsenter`. Test servers stay on the host's 127.0.0.1; the proxy reaches them
//! through names pinned to 127.0.0.1. Needs root (entering the namespace stands in
//! for the sandbox's descriptor passing).

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cordon_audit::{AuditLog, AuditLogOptions};
use cordon_egress::{
    DnsMode, EgressConfig, EgressProxy, Limits, PeerScope, PolicyHandle, SockDiag, StaticHosts,
    TransparentConfig,
};
use serde_json::Value;

use super::common::{compile, runtime, tool};

/// Port of the capture listener inside the namespace (cordon's default).
pub const CAPTURE_PORT: u16 = 3129;

/// Mirrors cordon-sandbox's `nft_ruleset` for `CAPTURE_PORT` and DNS on 53.
const RULES: &str = "table inet cordon_capture {
  chain divert {
    type nat hook output priority -100; policy accept;
    ip daddr 127.0.0.0/8 return
    ip6 daddr ::1 return
    meta l4proto tcp redirect to :3129
    udp dport 53 redirect to :53
  }
  chain confine {
    type filter hook output priority 0; policy drop;
    ip daddr 127.0.0.0/8 accept
    ip6 daddr ::1 accept
    meta l4proto udp reject
    meta l4proto tcp reject with tcp reset
  }
}
";

/// A capture namespace with a proxy serving it.
pub struct Captured {
    pub rt: tokio::runtime::Runtime,
    pub proxy: Option<EgressProxy>,
    /// Keeps the audit writer running for the test's life.
    _audit: AuditLog,
    pub audit_path: PathBuf,
    pub dir: tempfile::TempDir,
    holder: Child,
}

/// What to build a [`Captured`] with.
#[derive(Default)]
pub struct Setup<'a> {
    pub policy: &'a str,
    /// Names pinned to 127.0.0.1 in the proxy.
    pub hosts: &'a [&'a str],
    pub inspection: Option<cordon_egress::l7::Inspection>,
    pub limits: Limits,
}

/// Runs `f` on a thread that entered the network namespace of `pid`.
fn inside<T: Send + 'static>(pid: u32, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
        f()
    })
    .join()
    .unwrap()
}

impl Captured {
    pub fn start(setup: Setup<'_>) -> Captured {
        assert!(
            rustix::process::geteuid().is_root(),
            "the transparent egress tests enter a namespace: run them as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(
            &resolv,
            "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n",
        )
        .unwrap();
        let rules = dir.path().join("rules.nft");
        std::fs::write(&rules, RULES).unwrap();
        // Own user, network and mount namespaces: loopback, the rules, routes over lo,
        // and the policy DNS as the resolver, as a sandbox has them.
        let script = format!(
            "set -e; ip link set lo up; {nft} -f {rules}; \
             ip route add default dev lo src 127.0.0.1; ip -6 route add default dev lo; \
             mount --bind {resolv} /etc/resolv.conf; echo ready; exec sleep 600",
            nft = tool("nft").display(),
            rules = rules.display(),
            resolv = resolv.display(),
        );
        let mut holder = Command::new(tool("unshare"))
            .args(["-Urnm", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "namespace setup failed");
        let pid = holder.id();

        let (v4, v6, dns, diag) = inside(pid, || {
            (
                TcpListener::bind(("127.0.0.1", CAPTURE_PORT)).unwrap(),
                TcpListener::bind(("::1", CAPTURE_PORT)).unwrap(),
                UdpSocket::bind("127.0.0.1:53").unwrap(),
                SockDiag::create().unwrap(),
            )
        });
        let audit_path = dir.path().join("audit.jsonl");
        let audit = AuditLog::open(&audit_path, AuditLogOptions::default()).unwrap();
        let mut hosts = StaticHosts::new();
        for host in setup.hosts {
            hosts.add_entry(&format!("{host}:127.0.0.1")).unwrap();
        }
        let mut config = EgressConfig::new(
            "transparent-test",
            TcpListener::bind("127.0.0.1:0").unwrap(),
            PolicyHandle::new(compile(setup.policy)),
            audit.sink(),
            PeerScope::Sandbox {
                init_pid: pid,
                sock_diag: Some(SockDiag::from_fd(diag)),
            },
        );
        config.hosts = hosts;
        config.dns = DnsMode::Disabled;
        config.inspection = setup.inspection;
        config.limits = setup.limits;
        let rt = runtime();
        let proxy = rt
            .block_on(async {
                let proxy = EgressProxy::start(config)?;
                proxy.serve_transparent(TransparentConfig {
                    listeners: vec![v4, v6],
                    dns: Some(dns),
                    ipv6: true,
                    active: true,
                })?;
                Ok::<_, cordon_egress::EgressError>(proxy)
            })
            .unwrap();
        assert!(proxy.stats().transparent);
        Captured {
            rt,
            proxy: Some(proxy),
            _audit: audit,
            audit_path,
            dir,
            holder,
        }
    }

    pub fn proxy(&self) -> &EgressProxy {
        self.proxy.as_ref().unwrap()
    }

    /// `program args...` inside the namespace (network and mount), with no proxy
    /// variables: a client that knows nothing about the proxy.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = Command::new(tool("nsenter"))
            .arg(format!("--target={}", self.holder.id()))
            .args(["--net", "--mount", "--"])
            .arg(tool(program))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.code().is_some(), "{program} was killed: {out:?}");
        out
    }

    /// A python3 script inside the namespace printing one JSON value.
    pub fn python_json(&self, script: &str, args: &[&str]) -> Value {
        let mut all = vec!["-c", script];
        all.extend_from_slice(args);
        let out = self.run("python3", &all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "python failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("bad python output {stdout}: {e}"))
    }

    /// Writes a file in the test's directory (visible inside: same mount tree).
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Every audit line so far.
    pub fn audit_lines(&self) -> Vec<Value> {
        self.proxy().audit().flush();
        std::fs::read_to_string(&self.audit_path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Audit lines for `host` matching `pred`, waiting briefly for lines written at
    /// connection end (the bound only keeps a broken build from hanging).
    pub fn audit_where(&self, host: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<Value> = self
                .audit_lines()
                .into_iter()
                .filter(|v| v["dst_endpoint"]["hostname"] == host && pred(v))
                .collect();
            if !lines.is_empty() || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        if let Some(proxy) = self.proxy.take() {
            self.rt.block_on(proxy.shutdown());
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
