//! Helper for bench/l7.sh: small HTTPS requests on keep-alive connections, three
//! ways — direct to the origin, through the proxy's CONNECT tunnel (an endpoint
//! without request rules: TLS end to end), and through L7 inspection (`protocol:
//! rest`: TLS terminated with a sandbox-CA leaf, each request decided, re-encrypted
//! to the origin). Everything runs in this process on 127.0.0.1, each part on its
//! own tokio runtime: the origin (1 thread), the proxy (2 threads, binary identity
//! and the audit log on, as in a sandbox) and the client (1 thread).
//!
//! ```text
//! l7-bench [--requests N] [--concurrency C] [--runs R] [--only tunnel|l7] [--proxy-threads T]
//!          [--haproxy PATH]
//! ```
//! With `--haproxy`, a fourth line measures HAProxy doing the same job as L7
//! inspection (TLS terminated with its own CA's leaf, HTTP parsed, re-encrypted to the
//! origin over verified TLS, same thread count as the proxy): a reference for what a
//! mature C proxy reaches on this machine.
//! Prints one line per mode: sequential requests/s and latency percentiles on one
//! connection, and requests/s with C connections in parallel. Each figure is the
//! median over R runs. The parallel phase also reports the CPU time the whole process
//! spent per request and direct's share of it (`cpu-eff%`): on a loaded 2-core
//! machine req/s swings with other work, the CPU cost per request barely does.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cordon_audit::{AuditLog, AuditLogOptions};
use cordon_egress::l7::Inspection;
use cordon_egress::tls::{LeafCache, SandboxCa, UpstreamTls};
use cordon_egress::{DnsMode, EgressConfig, EgressProxy, PeerScope, PolicyHandle, StaticHosts};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Direct,
    Tunnel,
    Inspected,
    Reference,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Tunnel => "CONNECT tunnel (no inspection)",
            Mode::Inspected => "L7 inspection (protocol: rest)",
            Mode::Reference => "reference: HAProxy TLS bump",
        }
    }

    fn host(self) -> &'static str {
        match self {
            Mode::Direct => "origin.bench",
            Mode::Tunnel => "tunnel.bench",
            Mode::Inspected => "l7.bench",
            Mode::Reference => "origin.bench",
        }
    }
}

struct Setup {
    origin: SocketAddr,
    proxy: SocketAddr,
    origin_tls: Arc<rustls::ClientConfig>,
    sandbox_tls: Arc<rustls::ClientConfig>,
    /// HAProxy's TLS listener and a client config trusting its CA (`--haproxy`).
    reference: Option<(SocketAddr, Arc<rustls::ClientConfig>)>,
    /// HAProxy's pid: its CPU counts with this process's for the reference line.
    reference_pid: Option<u32>,
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |name: &str, default: usize| -> Result<usize, Error> {
        match args.windows(2).find(|w| w[0] == name) {
            Some(w) => Ok(w[1].parse()?),
            None => Ok(default),
        }
    };
    let requests = number("--requests", 5000)?;
    let concurrency = number("--concurrency", 8)?;
    let runs = number("--runs", 5)?;

    let origin_rt = runtime(1)?;
    let proxy_rt = runtime(number("--proxy-threads", 2)?)?;
    let client_rt = runtime(1)?;
    let dir = std::env::temp_dir().join(format!("cordon-l7-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let origin_ca = Arc::new(SandboxCa::generate()?);
    let origin = origin_rt.block_on(serve_origin(Arc::clone(&origin_ca)))?;
    let sandbox_ca = Arc::new(SandboxCa::generate()?);
    let audit = AuditLog::open(&dir.join("audit.jsonl"), AuditLogOptions::default())?;
    let policy = format!(
        r#"
version: 1
network_policies:
  bench:
    endpoints:
      - host: l7.bench
        port: {port}
        protocol: rest
        rules:
          - allow: {{method: GET, path: "/bench/**"}}
        deny_rules:
          - {{method: GET, path: "/bench/secret/**"}}
      - host: tunnel.bench
        port: {port}
    binaries:
      - {{path: "/**"}}
"#,
        port = origin.port()
    );
    let compiled = cordon_policy::CompiledPolicy::compile(
        &cordon_policy::parse_str(&policy, "bench")?.policy,
    )?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let proxy_addr = listener.local_addr()?;
    let mut config = EgressConfig::new(
        "bench",
        listener,
        PolicyHandle::new(compiled),
        audit.sink(),
        PeerScope::Host,
    );
    let mut hosts = StaticHosts::new();
    hosts.add_entry("l7.bench:127.0.0.1")?;
    hosts.add_entry("tunnel.bench:127.0.0.1")?;
    config.hosts = hosts;
    config.dns = DnsMode::Disabled;
    config.inspection = Some(Inspection::new(
        Arc::clone(&sandbox_ca),
        UpstreamTls::only(origin_ca.cert_pem())?,
    ));
    let proxy = proxy_rt.block_on(async { EgressProxy::start(config) })?;

    let haproxy = match args.windows(2).find(|w| w[0] == "--haproxy") {
        Some(w) => Some(start_haproxy(
            &w[1],
            &dir,
            origin,
            origin_ca.cert_pem(),
            number("--proxy-threads", 2)?,
        )?),
        None => None,
    };
    let setup = Setup {
        origin,
        proxy: proxy_addr,
        origin_tls: client_config(origin_ca.cert_pem())?,
        sandbox_tls: client_config(sandbox_ca.cert_pem())?,
        reference: haproxy
            .as_ref()
            .map(|h| Ok::<_, Error>((h.addr, client_config(&h.ca_pem)?)))
            .transpose()?,
        reference_pid: haproxy.as_ref().map(|h| h.child.id()),
    };
    println!(
        "small HTTPS GETs (2-byte body), keep-alive; {requests} requests per run, {concurrency} connections for the parallel figure, median of {runs} runs"
    );
    println!(
        "{:<32} {:>10} {:>9} {:>9} {:>11} {:>13} {:>9} {:>11} {:>9}",
        "mode",
        "seq req/s",
        "p50 us",
        "p99 us",
        "+p50 us",
        "par req/s",
        "% direct",
        "CPU us/req",
        "cpu-eff%"
    );
    let mut direct: Option<(f64, f64, f64)> = None;
    // `--only l7` (or `tunnel`) skips the other modes, for profiling one path.
    let only = args
        .windows(2)
        .find(|w| w[0] == "--only")
        .map(|w| w[1].clone());
    for mode in [Mode::Direct, Mode::Tunnel, Mode::Inspected, Mode::Reference] {
        let key = match mode {
            Mode::Direct => "direct",
            Mode::Tunnel => "tunnel",
            Mode::Inspected => "l7",
            Mode::Reference => "haproxy",
        };
        if mode == Mode::Reference && setup.reference.is_none() {
            continue;
        }
        if only
            .as_deref()
            .is_some_and(|o| o != key && mode != Mode::Direct)
        {
            continue;
        }
        let mut seq = Vec::new();
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        let mut par = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..runs {
            let (rps, lat50, lat99) = client_rt.block_on(sequential(&setup, mode, requests))?;
            seq.push(rps);
            p50.push(lat50);
            p99.push(lat99);
            let (rps, cpu_us) =
                client_rt.block_on(parallel(&setup, mode, requests, concurrency))?;
            par.push(rps);
            cpu.push(cpu_us);
        }
        let (seq, p50, p99, par, cpu) = (
            median(seq),
            median(p50),
            median(p99),
            median(par),
            median(cpu),
        );
        let (base_p50, base_par, base_cpu) = *direct.get_or_insert((p50, par, cpu));
        println!(
            "{:<32} {:>10.0} {:>9.0} {:>9.0} {:>11.0} {:>13.0} {:>8.0}% {:>11.1} {:>8.0}%",
            mode.name(),
            seq,
            p50,
            p99,
            p50 - base_p50,
            par,
            100.0 * par / base_par,
            cpu,
            100.0 * base_cpu / cpu
        );
    }
    drop(haproxy);
    let stats = proxy_rt.block_on(proxy.shutdown());
    println!("proxy decisions: {:?}", stats.decisions);
    drop(audit);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls_pki_types::CertificateDer::from_pem_slice(
        ca_pem.as_bytes(),
    )?)?;
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// An HTTPS origin answering every request with `ok`, leaves minted per SNI.
async fn serve_origin(ca: Arc<SandboxCa>) -> Result<SocketAddr, Error> {
    let leaves = Arc::new(LeafCache::new(ca));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let leaves = Arc::clone(&leaves);
            tokio::spawn(async move {
                let acceptor =
                    tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
                let Ok(start) = acceptor.await else { return };
                let name = start
                    .client_hello()
                    .server_name()
                    .unwrap_or("origin.bench")
                    .to_owned();
                let Ok(config) = leaves.server_config(&name) else {
                    return;
                };
                let Ok(tls) = start.into_stream(config).await else {
                    return;
                };
                let service = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"ok"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// One keep-alive HTTPS connection to the origin for `mode`.
async fn connect(setup: &Setup, mode: Mode) -> Result<Sender, Error> {
    let tcp = match mode {
        Mode::Direct => TcpStream::connect(setup.origin).await?,
        Mode::Reference => match &setup.reference {
            Some((addr, _)) => TcpStream::connect(addr).await?,
            None => return Err("no --haproxy".into()),
        },
        Mode::Tunnel | Mode::Inspected => {
            let mut tcp = TcpStream::connect(setup.proxy).await?;
            let target = format!("{}:{}", mode.host(), setup.origin.port());
            tcp.write_all(
                format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes(),
            )
            .await?;
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if tcp.read(&mut byte).await? == 0 {
                    return Err("proxy closed during CONNECT".into());
                }
                head.push(byte[0]);
            }
            if !head.starts_with(b"HTTP/1.1 200") {
                return Err(format!("CONNECT refused: {}", String::from_utf8_lossy(&head)).into());
            }
            tcp
        }
    };
    tcp.set_nodelay(true)?;
    let (config, name) = match (mode, &setup.reference) {
        (Mode::Inspected, _) => (&setup.sandbox_tls, mode.host()),
        (Mode::Reference, Some((_, config))) => (config, REFERENCE_HOST),
        _ => (&setup.origin_tls, mode.host()),
    };
    let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(ServerName::try_from(name.to_owned())?, tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn get(sender: &mut Sender, mode: Mode, port: u16) -> Result<(), Error> {
    sender.ready().await?;
    let req = hyper::Request::get("/bench/item")
        .header("host", format!("{}:{port}", mode.host()))
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    if !resp.status().is_success() {
        return Err(format!("{} answered {}", mode.name(), resp.status()).into());
    }
    resp.into_body().collect().await?;
    Ok(())
}

/// Requests one after another on one connection: (req/s, p50 µs, p99 µs).
async fn sequential(setup: &Setup, mode: Mode, requests: usize) -> Result<(f64, f64, f64), Error> {
    let mut sender = connect(setup, mode).await?;
    let port = setup.origin.port();
    for _ in 0..100 {
        get(&mut sender, mode, port).await?;
    }
    let mut latencies = Vec::with_capacity(requests);
    let started = Instant::now();
    for _ in 0..requests {
        let t = Instant::now();
        get(&mut sender, mode, port).await?;
        latencies.push(t.elapsed());
    }
    let total = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies
            .get(i)
            .copied()
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
            * 1e6
    };
    Ok((requests as f64 / total.as_secs_f64(), pct(0.50), pct(0.99)))
}

/// `concurrency` connections sharing `requests` requests: aggregate req/s, and the CPU
/// time this process (client, proxy and origin together) spent per request in µs —
/// a figure other load on the machine barely moves, unlike req/s.
async fn parallel(
    setup: &Setup,
    mode: Mode,
    requests: usize,
    concurrency: usize,
) -> Result<(f64, f64), Error> {
    let mut senders = Vec::new();
    for _ in 0..concurrency {
        let mut sender = connect(setup, mode).await?;
        get(&mut sender, mode, setup.origin.port()).await?;
        senders.push(sender);
    }
    let per = requests / concurrency.max(1);
    let port = setup.origin.port();
    let pids = [
        Some("self".to_owned()),
        setup
            .reference_pid
            .filter(|_| mode == Mode::Reference)
            .map(|p| p.to_string()),
    ];
    let cpu_before = cpu_ns(&pids);
    let started = Instant::now();
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            tokio::spawn(async move {
                for _ in 0..per {
                    get(&mut sender, mode, port).await?;
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = (per * concurrency) as f64;
    let cpu_us = cpu_ns(&pids).saturating_sub(cpu_before) as f64 / 1e3 / done;
    Ok((done / elapsed, cpu_us))
}

/// CPU time consumed so far by every thread of the processes `pids` (`self` or a
/// number), in ns (the first field of each `/proc/PID/task/*/schedstat`); 0 where
/// unreadable.
fn cpu_ns(pids: &[Option<String>]) -> u64 {
    pids.iter()
        .flatten()
        .filter_map(|pid| std::fs::read_dir(format!("/proc/{pid}/task")).ok())
        .flat_map(|tasks| tasks.filter_map(Result::ok))
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The name HAProxy's listener presents a certificate for.
const REFERENCE_HOST: &str = "haproxy.bench";

/// A running HAProxy (killed on drop) and the CA its listener's leaf chains to.
struct Haproxy {
    child: std::process::Child,
    addr: SocketAddr,
    ca_pem: String,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `haproxy` in the foreground: TLS on a free loopback port with a leaf for
/// [`REFERENCE_HOST`], HTTP/1.1 keep-alive, and TLS to the origin verified against the
/// origin's CA (the same work L7 inspection does).
fn start_haproxy(
    program: &str,
    dir: &std::path::Path,
    origin: SocketAddr,
    origin_ca_pem: &str,
    threads: usize,
) -> Result<Haproxy, Error> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate()?;
    let leaf =
        CertificateParams::new(vec![REFERENCE_HOST.to_owned()])?.signed_by(&leaf_key, &issuer)?;
    let crt = dir.join("haproxy.pem");
    std::fs::write(&crt, format!("{}{}", leaf.pem(), leaf_key.serialize_pem()))?;
    let origin_ca = dir.join("origin-ca.pem");
    std::fs::write(&origin_ca, origin_ca_pem)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "global\n  nbthread {threads}\n  log stderr format raw local0 emerg\n\
             defaults\n  mode http\n  option http-keep-alive\n  timeout connect 5s\n  \
             timeout client 60s\n  timeout server 60s\n  http-reuse always\n\
             frontend bench\n  bind 127.0.0.1:{port} ssl crt {crt} alpn http/1.1\n  \
             default_backend origin\n\
             backend origin\n  server o {origin} ssl verify required ca-file {ca} \
             sni str(origin.bench) verifyhost origin.bench alpn http/1.1\n",
            crt = crt.display(),
            ca = origin_ca.display(),
        ),
    )?;
    let child = std::process::Command::new(program)
        .arg("-db")
        .arg("-f")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let haproxy = Haproxy {
        child,
        addr,
        ca_pem: ca_cert.pem(),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(haproxy);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("haproxy did not start listening".into())
}
