//! The test harness: fake OpenAI- and Anthropic-compatible providers on 127.0.0.1
//! that check the key they receive (like a real provider would) and record every
//! request; a front server that serves the router over real HTTP; an HTTP client; and
//! an audit capture.
//!
//! Streams are gated: the provider sends its first event, then waits until the test
//! says it has received that event ([`Gate::release`]) before sending the rest. If the
//! router held the stream back, the test could never release the gate; the provider
//! then gives up after [`GATE_FALLBACK`] and records that it had to
//! ([`Gate::timed_out`]), which the tests assert against. No timing is measured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::channel::Channel;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use cordon_audit::{AuditLog, AuditSink};
use cordon_inference::{
    BaseUrl, BudgetLimits, Caller, InferenceRouter, ProviderKind, ResolvedProvider, Route,
    RouterConfig,
};
use cordon_secrets::SecretValue;

/// How long a gated provider waits for the client before sending the rest anyway
/// (only reached when relaying is broken; then the test fails on `timed_out`).
pub const GATE_FALLBACK: Duration = Duration::from_secs(10);

/// The two API styles the fake provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    OpenAi,
    Anthropic,
}

/// One request as the provider received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Holds a stream after its first event until the client has it.
#[derive(Debug, Default)]
pub struct Gate {
    notify: Notify,
    timed_out: AtomicBool,
    finished: AtomicBool,
    first_sent: AtomicBool,
}

impl Gate {
    /// The client got the first event: let the provider continue.
    pub fn release(&self) {
        self.notify.notify_one();
    }
    /// The provider had to give up waiting for the client.
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }
    /// The provider has sent its last event.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
    /// The provider has sent its first event.
    pub fn first_sent(&self) -> bool {
        self.first_sent.load(Ordering::SeqCst)
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A fake provider.
pub struct FakeProvider {
    pub addr: SocketAddr,
    pub style: Style,
    pub key: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    pub gate: Arc<Gate>,
    accepted: Arc<AtomicUsize>,
}

impl FakeProvider {
    /// Starts a provider on 127.0.0.1 that accepts only `key`.
    pub async fn start(style: Style, key: &str) -> FakeProvider {
        FakeProvider::start_with(style, key, None).await
    }

    /// The same over TLS with `tls` (for `https://localhost:PORT` base URLs).
    pub async fn start_with(
        style: Style,
        key: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Gate::default());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let state = (style, key.to_owned(), Arc::clone(&seen), Arc::clone(&gate));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let state = state.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (style, key, seen, gate) = state.clone();
                        async move { Ok::<_, Infallible>(provide(style, &key, &seen, &gate, req).await) }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(config) => {
                            let Ok(stream) =
                                tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                            else {
                                return;
                            };
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        FakeProvider {
            addr,
            style,
            key: key.to_owned(),
            seen,
            gate,
            accepted,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The provider record a route to this server uses.
    pub fn resolved(&self, name: &str) -> ResolvedProvider {
        self.resolved_at(name, &format!("http://{}/v1", self.addr))
    }

    /// The provider record with an explicit base URL.
    pub fn resolved_at(&self, name: &str, base: &str) -> ResolvedProvider {
        let kind = match self.style {
            Style::OpenAi => ProviderKind::OpenAiCompatible,
            Style::Anthropic => ProviderKind::Anthropic,
        };
        ResolvedProvider {
            name: name.to_owned(),
            kind,
            base: Some(BaseUrl::parse(base).unwrap()),
            key: Some(SecretValue::new(self.key.clone()).unwrap()),
        }
    }

    /// A route to this server.
    pub fn route(&self, name: &str, model: Option<&str>, budget: BudgetLimits) -> Route {
        Route::new(self.resolved(name), model.map(str::to_owned), budget).unwrap()
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed_unsync());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
        .headers_mut()
        .insert("set-cookie", "provider-session=1".parse().unwrap());
    response
}

async fn provide(
    style: Style,
    key: &str,
    seen: &Mutex<Vec<Seen>>,
    gate: &Arc<Gate>,
    req: Request<Incoming>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    let record = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().unwrap().to_string(),
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    seen.lock().unwrap().push(record);
    let authorised = match style {
        Style::OpenAi => {
            parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {key}"))
        }
        Style::Anthropic => {
            parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(key)
                && parts.headers.contains_key("anthropic-version")
        }
    };
    if !authorised {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": {"message": "invalid key"}}),
        );
    }
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = doc["model"].as_str().unwrap_or("none").to_owned();
    let stream = doc["stream"] == true;
    match (style, parts.uri.path()) {
        (_, "/v1/models") => json_response(StatusCode::OK, &json!({"data": [{"id": "m1"}]})),
        (Style::Anthropic, "/v1/messages") if stream => anthropic_stream(Arc::clone(gate), model),
        (Style::Anthropic, "/v1/messages") => json_response(
            StatusCode::OK,
            &json!({"type": "message", "model": model, "content": [{"type": "text", "text": "hi"}],
                    "usage": {"input_tokens": 10, "output_tokens": 20}}),
        ),
        (Style::OpenAi, "/v1/chat/completions") if stream => openai_stream(Arc::clone(gate), model),
        (Style::OpenAi, "/v1/responses") => json_response(
            StatusCode::OK,
            &json!({"object": "response", "model": model, "usage": {"input_tokens": 3, "output_tokens": 4}}),
        ),
        (Style::OpenAi, _) => json_response(
            StatusCode::OK,
            &json!({"object": "chat.completion", "model": model,
                    "choices": [{"message": {"role": "assistant", "content": "hi"}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}),
        ),
        _ => json_response(StatusCode::NOT_FOUND, &json!({"error": "not found"})),
    }
}

/// Sends `events` as SSE: the first one, then waits for the gate, then the rest.
fn gated_stream(gate: Arc<Gate>, events: Vec<String>) -> Response<Body> {
    let (mut tx, body) = Channel::<Bytes, Infallible>::new(8);
    tokio::spawn(async move {
        let mut events = events.into_iter();
        if let Some(first) = events.next() {
            let _ = tx.send_data(Bytes::from(first)).await;
            gate.first_sent.store(true, Ordering::SeqCst);
        }
        if tokio::time::timeout(GATE_FALLBACK, gate.notify.notified())
            .await
            .is_err()
        {
            gate.timed_out.store(true, Ordering::SeqCst);
        }
        for event in events {
            let _ = tx.send_data(Bytes::from(event)).await;
        }
        gate.finished.store(true, Ordering::SeqCst);
    });
    let mut response = Response::new(body.boxed_unsync());
    response
        .headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    response
}

fn openai_stream(gate: Arc<Gate>, model: String) -> Response<Body> {
    let chunk = |content: &str| {
        format!(
            "data: {}\n\n",
            json!({"model": model, "choices": [{"delta": {"content": content}}], "usage": null})
        )
    };
    gated_stream(
        gate,
        vec![
            chunk("first"),
            chunk("second"),
            format!(
                "data: {}\n\n",
                json!({"model": model, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}})
            ),
            "data: [DONE]\n\n".to_owned(),
        ],
    )
}

fn anthropic_stream(gate: Arc<Gate>, model: String) -> Response<Body> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    gated_stream(
        gate,
        vec![
            event(
                "message_start",
                json!({"type": "message_start", "message": {"model": model, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
            ),
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}}),
            ),
            event(
                "message_delta",
                json!({"type": "message_delta", "usage": {"output_tokens": 20}}),
            ),
            event("message_stop", json!({"type": "message_stop"})),
        ],
    )
}

/// The router served over HTTP on 127.0.0.1, as the egress proxy would hand it
/// requests.
pub async fn serve_router(router: InferenceRouter) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let router = router.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let router = router.clone();
                    let caller = Caller {
                        port: 80,
                        src: Some(peer),
                        binary: Some("/usr/bin/agent".into()),
                        ..Caller::default()
                    };
                    async move { Ok::<_, Infallible>(router.handle(req, caller).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A response whose body is read by the test.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Incoming,
}

impl Reply {
    /// The whole body.
    pub async fn text(self) -> String {
        let bytes = self.body.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
    /// The whole body as JSON.
    pub async fn json(self) -> Value {
        serde_json::from_str(&self.text().await).unwrap()
    }
}

/// Sends one request to `addr` (`Host: inference.local`) on a new connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "inference.local");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let response = sender.send_request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// An audit log captured in memory.
pub struct AuditCapture {
    log: AuditLog,
    buf: Arc<Mutex<Vec<u8>>>,
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl AuditCapture {
    pub fn new() -> AuditCapture {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let log = AuditLog::to_writer(Box::new(SharedBuf(Arc::clone(&buf))), 1024).unwrap();
        AuditCapture { log, buf }
    }

    pub fn sink(&self) -> AuditSink {
        self.log.sink()
    }

    /// Everything written so far (after a flush).
    pub async fn text(&self) -> String {
        let sink = self.log.sink();
        tokio::task::spawn_blocking(move || sink.flush())
            .await
            .unwrap();
        String::from_utf8(self.buf.lock().unwrap().clone()).unwrap()
    }

    /// Every line as JSON.
    pub async fn lines(&self) -> Vec<Value> {
        self.text()
            .await
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A router with an audit capture and no route yet (plain-HTTP providers only).
pub fn router(audit: &AuditCapture) -> InferenceRouter {
    InferenceRouter::new(RouterConfig {
        sandbox: "test-sandbox".into(),
        audit: Some(audit.sink()),
        tls: cordon_inference::LazyTls::ready(cordon_inference::client_tls(None).unwrap()),
    })
}

/// The `unmapped.inference` object of an audit line.
pub fn inference_of(line: &Value) -> &Value {
    &line["unmapped"]["inference"]
}
