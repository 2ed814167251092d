//! `bench/inference.sh`: the inference router against a direct connection to the same
//! provider, all on 127.0.0.1.
//!
//! Three roles, each on its own single-threaded tokio runtime (its own thread): a fake
//! OpenAI-compatible provider, the router (served over HTTP as the egress proxy would
//! hand it requests), and the client. Measured on keep-alive connections:
//! - streamed completions (`--events` SSE events, the provider writing them back to
//!   back): time to the first body byte and to the end of the body, direct vs routed;
//! - small non-streamed completions: requests per second with `--concurrency`
//!   connections, direct vs routed.
//!
//! Usage: router_bench [--requests N] [--events N] [--concurrency N] [--runs N]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is the report

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use cordon_inference::{
    BaseUrl, BudgetLimits, Caller, InferenceRouter, ProviderKind, ResolvedProvider, Route,
    RouterConfig,
};
use cordon_secrets::SecretValue;

const KEY: &str = "sk-bench";

struct Options {
    requests: usize,
    events: usize,
    concurrency: usize,
    runs: usize,
}

fn options() -> Options {
    let mut o = Options {
        requests: 2000,
        events: 20,
        concurrency: 8,
        runs: 5,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok()).expect("a number");
        match pair[0].as_str() {
            "--requests" => o.requests = value,
            "--events" => o.events = value,
            "--concurrency" => o.concurrency = value,
            "--runs" => o.runs = value,
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// Runs `future` on a new single-threaded runtime in its own thread, forever.
fn spawn_runtime<F>(make: impl FnOnce() -> F + Send + 'static) -> SocketAddr
where
    F: std::future::Future<Output = SocketAddr> + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            tx.send(make().await).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

async fn provider_reply(req: Request<Incoming>, events: usize) -> Response<Body> {
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let stream = body.windows(13).any(|w| w == b"\"stream\":true");
    if stream {
        let mut frames: std::collections::VecDeque<Bytes> = (0..events)
            .map(|i| {
                Bytes::from(format!(
                    "data: {{\"choices\":[{{\"delta\":{{\"content\":\"token{i}\"}}}}],\"usage\":null}}\n\n"
                ))
            })
            .collect();
        frames.push_back(Bytes::from_static(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":20}}\n\ndata: [DONE]\n\n",
        ));
        let body = Events(frames);
        let mut response = Response::new(body.boxed_unsync());
        response
            .headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        return response;
    }
    let mut response = Response::new(
        Full::new(Bytes::from_static(
            b"{\"object\":\"chat.completion\",\"choices\":[{\"message\":{\"content\":\"ok\"}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}",
        ))
        .boxed_unsync(),
    );
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// An SSE body yielding one event per poll, as a provider writing event after event.
struct Events(std::collections::VecDeque<Bytes>);

impl http_body::Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn main() {
    let o = options();
    println!("inference router bench");
    println!("{}", "-".repeat(72));
    let events = o.events;
    let provider = spawn_runtime(move || async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::task::spawn_local(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                tokio::task::spawn_local(async move {
                    let service = service_fn(move |req| async move {
                        Ok::<_, Infallible>(provider_reply(req, events).await)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    });
    let router_addr = spawn_runtime(move || async move {
        let router = InferenceRouter::new(RouterConfig {
            sandbox: "bench".into(),
            audit: None,
            tls: cordon_inference::LazyTls::ready(cordon_inference::client_tls(None).unwrap()),
        });
        let resolved = ResolvedProvider {
            name: "bench".into(),
            kind: ProviderKind::OpenAiCompatible,
            base: Some(BaseUrl::parse(&format!("http://{provider}/v1")).unwrap()),
            key: Some(SecretValue::new(KEY.into()).unwrap()),
        };
        router.set_route(Some(
            Route::new(
                resolved,
                Some("bench-model".into()),
                BudgetLimits::default(),
            )
            .unwrap(),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::task::spawn_local(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let router = router.clone();
                tokio::task::spawn_local(async move {
                    let service = service_fn(move |req| {
                        let router = router.clone();
                        async move { Ok::<_, Infallible>(router.handle(req, Caller::default()).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut ttfb = [Vec::new(), Vec::new()];
        let mut total = [Vec::new(), Vec::new()];
        let mut rps = [Vec::new(), Vec::new()];
        for _ in 0..o.runs {
            for (i, target) in [provider, router_addr].into_iter().enumerate() {
                let (t, d) = streamed(target, o.requests / 4).await;
                ttfb[i].push(t);
                total[i].push(d);
                rps[i].push(throughput(target, o.requests, o.concurrency).await);
            }
        }
        let med = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let medf = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (td, tr) = (med(&mut ttfb[0]), med(&mut ttfb[1]));
        let (dd, dr) = (med(&mut total[0]), med(&mut total[1]));
        println!(
            "streamed completion ({} SSE events), median over {} runs of per-run medians:",
            o.events + 1,
            o.runs
        );
        println!(
            "  first byte  direct {:>8.3} ms   routed {:>8.3} ms   added {:>7.3} ms (target <= 2 ms)",
            ms(td),
            ms(tr),
            ms(tr.saturating_sub(td))
        );
        println!(
            "  total       direct {:>8.3} ms   routed {:>8.3} ms   added {:>7.3} ms",
            ms(dd),
            ms(dr),
            ms(dr.saturating_sub(dd))
        );
        let (rd, rr) = (medf(&mut rps[0]), medf(&mut rps[1]));
        println!(
            "small non-streamed completions, {} requests on {} keep-alive connections:",
            o.requests, o.concurrency
        );
        println!(
            "  direct {rd:>9.0} req/s   routed {rr:>9.0} req/s   ({:.0} % of direct)",
            100.0 * rr / rd
        );
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

fn request(body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::post("/v1/chat/completions")
        .header("host", "inference.local")
        .header("authorization", "Bearer caller")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

/// Median time to first byte and to end of body of `n` sequential streamed requests on
/// one keep-alive connection.
async fn streamed(addr: SocketAddr, n: usize) -> (Duration, Duration) {
    let mut sender = connect(addr).await;
    let mut firsts = Vec::with_capacity(n);
    let mut totals = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        sender.ready().await.unwrap();
        let start = Instant::now();
        let response = sender
            .send_request(request(
                b"{\"model\":\"m\",\"messages\":[],\"stream\":true}",
            ))
            .await
            .unwrap();
        let mut body = response.into_body();
        let mut first = None;
        while let Some(frame) = body.frame().await {
            if frame.unwrap().data_ref().is_some_and(|d| !d.is_empty()) && first.is_none() {
                first = Some(start.elapsed());
            }
        }
        firsts.push(first.unwrap());
        totals.push(start.elapsed());
    }
    firsts.sort();
    totals.sort();
    (firsts[firsts.len() / 2], totals[totals.len() / 2])
}

/// Requests per second for `n` small completions over `c` connections.
async fn throughput(addr: SocketAddr, n: usize, c: usize) -> f64 {
    let start = Instant::now();
    let per = n / c.max(1);
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await;
                for _ in 0..per {
                    sender.ready().await.unwrap();
                    let response = sender
                        .send_request(request(b"{\"model\":\"m\",\"messages\":[]}"))
                        .await
                        .unwrap();
                    response.into_body().collect().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (per * c) as f64 / start.elapsed().as_secs_f64()
}
