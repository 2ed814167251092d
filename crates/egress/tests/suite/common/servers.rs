//! Destination servers for the tests, on loopback only.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// An HTTP/1.1 server answering `NAME METHOD PATH len=BODYLEN`, `/bytes/N` with N
/// bytes, and files under `root` when given (for git's dumb HTTP).
pub struct HttpServer {
    pub addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

impl HttpServer {
    pub fn start(name: &str, bind: &str) -> HttpServer {
        HttpServer::serve(name, bind, None)
    }

    pub fn serve(name: &str, bind: &str, root: Option<PathBuf>) -> HttpServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = TcpListener::bind(bind).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let name = name.to_owned();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let name = name.clone();
                let root = root.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| respond(name.clone(), root.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HttpServer { addr, _rt: rt }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

async fn respond(
    name: String,
    root: Option<PathBuf>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        return Ok(Response::new(Full::new(Bytes::from(vec![b'x'; n]))));
    }
    if let Some(root) = root {
        let file = root.join(path.trim_start_matches('/'));
        if !path.contains("..") {
            return Ok(match std::fs::read(&file) {
                Ok(bytes) => Response::new(Full::new(Bytes::from(bytes))),
                Err(_) => {
                    let mut r = Response::new(Full::new(Bytes::from_static(b"not found\n")));
                    *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                    r
                }
            });
        }
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    Ok(Response::new(Full::new(Bytes::from(format!(
        "{name} {method} {path} len={body}\n"
    )))))
}

/// A TCP echo server (for tunnels that must stay open).
pub struct EchoServer {
    pub addr: SocketAddr,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        EchoServer { addr }
    }
}
