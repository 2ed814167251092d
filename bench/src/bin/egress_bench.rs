//! Helper for bench/egress.sh: the egress proxy standalone, a loopback HTTP/echo
//! server, and two load clients. Each role is a subcommand so the proxy's RSS and CPU
//! are measured in a process of its own.
//!
//! ```text
//! egress-bench proxy --policy FILE [--add-host NAME:IP]... [--relay splice|copy] [--audit FILE]
//! egress-bench serve
//! egress-bench load  --proxy ADDR --target HOST:PORT --concurrency N --seconds S
//! egress-bench idle  --proxy ADDR --target HOST:PORT --count N
//! ```
//! `proxy` and `serve` print their ports and run until stdin closes.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cordon_audit::{AuditLog, AuditLogOptions, AuditSink};
use cordon_egress::{
    DnsMode, EgressConfig, EgressProxy, PeerScope, PolicyHandle, RelayMode, StaticHosts,
};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(role) = args.first() else {
        return Err("usage: egress-bench proxy|serve|load|idle ...".into());
    };
    // `--runtime current` runs the role on a single-threaded runtime (compare with
    // the default multi-threaded one: fewer cross-thread wake-ups per request).
    let rt = if flags(&args, "--runtime").first() == Some(&"current") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    match role.as_str() {
        "proxy" => rt.block_on(proxy(&args[1..])),
        "serve" => rt.block_on(serve()),
        "load" => rt.block_on(load(&args[1..])),
        "idle" => rt.block_on(idle(&args[1..])),
        other => Err(format!("unknown role {other}").into()),
    }
}

/// Values of `--name` flags, in order.
fn flags<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].as_str())
        .collect()
}

fn flag<'a>(args: &'a [String], name: &str) -> Result<&'a str, Error> {
    flags(args, name)
        .first()
        .copied()
        .ok_or_else(|| format!("missing {name}").into())
}

/// Blocks (on a thread) until stdin closes: the script holds the pipe open.
async fn until_stdin_closes() {
    let _ = tokio::task::spawn_blocking(|| {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
        }
    })
    .await;
}

async fn proxy(args: &[String]) -> Result<(), Error> {
    let yaml = std::fs::read_to_string(flag(args, "--policy")?)?;
    let loaded = cordon_policy::parse_str(&yaml, "bench")?;
    let compiled = cordon_policy::CompiledPolicy::compile(&loaded.policy)?;
    let mut hosts = StaticHosts::new();
    for entry in flags(args, "--add-host") {
        hosts.add_entry(entry)?;
    }
    let (audit, log) = match flags(args, "--audit").first() {
        Some(path) => {
            let log = AuditLog::open(std::path::Path::new(path), AuditLogOptions::default())?;
            (log.sink(), Some(log))
        }
        None => (AuditSink::counting_only(), None),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut config = EgressConfig::new(
        "bench",
        listener,
        PolicyHandle::new(compiled),
        audit,
        PeerScope::Host,
    );
    config.hosts = hosts;
    config.dns = DnsMode::Disabled;
    config.relay = match flags(args, "--relay").first() {
        Some(&"copy") => RelayMode::Copy,
        _ => RelayMode::Splice,
    };
    config.limits.max_connections = 8192;
    let proxy = EgressProxy::start(config)?;
    println!("proxy {}", proxy.local_addr().port());
    until_stdin_closes().await;
    let stats = proxy.shutdown().await;
    eprintln!("{}", stats.decisions.summary_line());
    if let Some(log) = log {
        log.close()?;
    }
    Ok(())
}

/// One MiB of payload, shared by every response chunk (no per-chunk allocation).
fn chunk() -> Bytes {
    static CHUNK: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    CHUNK
        .get_or_init(|| Bytes::from(vec![b'x'; 1 << 20]))
        .clone()
}

async fn serve() -> Result<(), Error> {
    let http = TcpListener::bind("127.0.0.1:0").await?;
    let echo = TcpListener::bind("127.0.0.1:0").await?;
    println!("http {}", http.local_addr()?.port());
    println!("echo {}", echo.local_addr()?.port());
    tokio::spawn(async move {
        while let Ok((stream, _)) = http.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let size: u64 = req
                        .uri()
                        .path()
                        .strip_prefix("/bytes/")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(2);
                    Ok::<_, Infallible>(hyper::Response::new(Payload { left: size }))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    until_stdin_closes().await;
    Ok(())
}

/// A body of `left` bytes served from the shared chunk.
struct Payload {
    left: u64,
}

impl hyper::body::Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let len = self.left.min(1 << 20);
        self.left -= len;
        std::task::Poll::Ready(Some(Ok(Frame::data(chunk().slice(..len as usize)))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}

/// Opens a CONNECT tunnel and returns the stream once the proxy answered 200.
async fn open_tunnel(proxy: SocketAddr, target: &str) -> Result<TcpStream, Error> {
    let mut stream = TcpStream::connect(proxy).await?;
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await?;
    let mut head = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err("proxy closed".into());
        }
        head.push(byte[0]);
    }
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(stream)
    } else {
        Err(String::from_utf8_lossy(&head).into_owned().into())
    }
}

async fn load(args: &[String]) -> Result<(), Error> {
    let proxy: SocketAddr = flag(args, "--proxy")?.parse()?;
    let target = flag(args, "--target")?.to_owned();
    let concurrency: usize = flag(args, "--concurrency")?.parse()?;
    let seconds: u64 = flag(args, "--seconds")?.parse()?;
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (done, failed, target) = (Arc::clone(&done), Arc::clone(&failed), target.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match open_tunnel(proxy, &target).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    // A 403 is a decision too; count it, but separately.
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let started = Instant::now();
    for task in tasks {
        task.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    let refused = failed.load(Ordering::Relaxed);
    println!(
        "decisions {:.0}/s ({ok} tunnels opened, {refused} refused, {secs:.1} s, {concurrency} concurrent)",
        (ok + refused) as f64 / secs
    );
    Ok(())
}

async fn idle(args: &[String]) -> Result<(), Error> {
    let proxy: SocketAddr = flag(args, "--proxy")?.parse()?;
    let target = flag(args, "--target")?;
    let count: usize = flag(args, "--count")?.parse()?;
    let mut tunnels = Vec::with_capacity(count);
    for _ in 0..count {
        let mut tunnel = open_tunnel(proxy, target).await?;
        // One round trip so each tunnel has really carried bytes.
        tunnel.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tunnel.read_exact(&mut buf).await?;
        tunnels.push(tunnel);
    }
    println!("open {}", tunnels.len());
    until_stdin_closes().await;
    Ok(())
}
