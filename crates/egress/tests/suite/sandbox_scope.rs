//! Binary identity in sandbox scope, the way `cordon run` wires it: clients run inside
//! a bwrap sandbox (own network, pid and mount namespaces), the proxy listener is
//! bound inside the sandbox's network namespace, and the proxy (in this process,
//! outside) identifies callers by the executable path as seen *inside* the sandbox —
//! a tool bind-mounted at /opt/tools/fetch is known by that path, not its host path.
//! Needs root (entering the namespace to bind the listener stands in for the
//! supervisor's descriptor passing).

use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cordon_audit::{AuditLog, AuditLogOptions};
use cordon_egress::{DnsMode, EgressConfig, EgressProxy, PeerScope, PolicyHandle, StaticHosts};

use super::common::servers::HttpServer;
use super::common::{compile, runtime, tool};

/// A process inside the sandbox started by bwrap (pid `outer`): a descendant in
/// another pid namespace.
fn sandboxed_descendant(outer: u32) -> Option<u32> {
    let own_ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let parent_of = |pid: u32| -> Option<u32> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:")?.trim().parse().ok())
    };
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
        let mut cursor = pid;
        for _ in 0..8 {
            cursor = parent_of(cursor)?;
            if cursor == outer {
                return (ns != own_ns).then_some(pid);
            }
        }
        None
    })
}

/// Binds 127.0.0.1:0 inside the network namespace of `pid`.
fn listener_inside(pid: u32) -> std::net::TcpListener {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
        std::net::TcpListener::bind("127.0.0.1:0").unwrap()
    })
    .join()
    .unwrap()
}

#[test]
fn identity_uses_the_path_inside_the_sandbox() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test binds the proxy listener inside a sandbox's network namespace and needs root"
    );
    let srv = HttpServer::start("srv", "127.0.0.1:0");
    let p = srv.port();
    let work = tempfile::tempdir().unwrap();
    let tools = work.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    std::fs::copy(tool("curl"), tools.join("fetch")).unwrap();
    std::fs::set_permissions(tools.join("fetch"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port_file = work.path().join("port");
    let script = format!(
        "while [ ! -s {pf} ]; do sleep 0.02; done; P=$(cat {pf}); \
         /opt/tools/fetch -sS -x http://127.0.0.1:$P -o /dev/null -w 'fetch %{{http_code}}\\n' http://api.test:{p}/; \
         {curl} -sS -x http://127.0.0.1:$P -o /dev/null -w 'curl %{{http_code}}\\n' http://api.test:{p}/",
        pf = port_file.display(),
        curl = tool("curl").display()
    );
    let mut child = Command::new(tool("bwrap"))
        .args([
            "--unshare-net",
            "--unshare-pid",
            "--die-with-parent",
            "--ro-bind",
            "/",
            "/",
        ])
        .args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/opt"])
        .arg("--bind")
        .args([work.path(), work.path()])
        .arg("--ro-bind")
        .arg(&tools)
        .arg("/opt/tools")
        .args(["/bin/sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let inner = loop {
        if let Some(pid) = sandboxed_descendant(child.id()) {
            break pid;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("bwrap exited ({status}): {err}");
        }
        assert!(Instant::now() < deadline, "sandbox did not start");
        std::thread::sleep(Duration::from_millis(10));
    };

    let rt = runtime();
    let audit_path = work.path().join("audit.jsonl");
    let audit = AuditLog::open(&audit_path, AuditLogOptions::default()).unwrap();
    let policy = format!(
        "version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - {{ host: api.test, port: {p} }}\n    binaries:\n      - {{ path: /opt/tools/fetch }}\n"
    );
    let mut hosts = StaticHosts::new();
    hosts.add_entry("api.test:127.0.0.1").unwrap();
    let listener = listener_inside(inner);
    let mut config = EgressConfig::new(
        "bwrap-sandbox",
        listener,
        PolicyHandle::new(compile(&policy)),
        audit.sink(),
        PeerScope::Sandbox {
            init_pid: inner,
            sock_diag: None,
        },
    );
    config.hosts = hosts;
    config.dns = DnsMode::Disabled;
    let proxy = rt.block_on(async { EgressProxy::start(config) }).unwrap();
    std::fs::write(&port_file, proxy.local_addr().port().to_string()).unwrap();

    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "fetch 200\ncurl 403\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    audit.sink().flush();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let paths: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["actor"]["process"]["file"]["path"].as_str())
        .collect();
    assert_eq!(paths, ["/opt/tools/fetch", tool("curl").to_str().unwrap()]);
    rt.block_on(proxy.shutdown());
}
