//! The guard in front of a real hyper server: what passes reaches the service intact
//! (keep-alive, chunked, pipelined), what is ambiguous is answered by the refusal.

use std::convert::Infallible;

use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

/// Serves one connection through the guard; the service answers
/// `METHOD PATH BODYLEN` or, for the synthetic request, `refused: REASON`.
async fn serve(io: DuplexStream) {
    let gate = Gate::new(io, "s3cret".into());
    let shared = gate.shared();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = Arc::clone(&shared);
        async move {
            let marker = req
                .headers()
                .get(REFUSAL_HEADER)
                .map(|v| v.as_bytes().to_vec());
            if let Some(refusal) = shared.take_refusal(marker.as_deref()) {
                let mut resp = Response::new(Full::new(bytes::Bytes::from(format!(
                    "refused: {}",
                    refusal.reason
                ))));
                *resp.status_mut() = refusal.status;
                return Ok::<_, Infallible>(resp);
            }
            let line = format!("{} {}", req.method(), req.uri().path());
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(999_999);
            Ok(Response::new(Full::new(bytes::Bytes::from(format!(
                "{line} {body}"
            )))))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .serve_connection(TokioIo::new(gate), service)
        .await;
}

/// Sends `raw`, closes the write side, returns everything the server wrote.
async fn exchange(raw: &[u8]) -> String {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(serve(server));
    let (mut read, mut write) = tokio::io::split(client);
    let raw = raw.to_vec();
    // The server may stop reading (and close) before everything is written.
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&raw).await;
        let _ = write.shutdown().await;
    });
    let mut out = Vec::new();
    read.read_to_end(&mut out).await.unwrap();
    task.await.unwrap();
    writer.abort();
    String::from_utf8_lossy(&out).into_owned()
}

fn bodies(response: &str) -> Vec<&str> {
    response
        .split("HTTP/1.1 ")
        .filter(|r| !r.is_empty())
        .map(|r| r.rsplit("\r\n\r\n").next().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn keep_alive_fixed_and_chunked_requests_pass_intact() {
    let out = exchange(
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
          POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
          POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n\
          GET /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        bodies(&out),
        ["GET /a 0", "POST /b 5", "POST /c 5", "GET /d 0"],
        "{out}"
    );
}

#[tokio::test]
async fn both_length_and_chunked_is_refused() {
    // The classic CL.TE smuggle: a length covering a hidden second request.
    let out = exchange(
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(
        out.contains("both Content-Length and Transfer-Encoding"),
        "{out}"
    );
    assert!(!out.contains("/admin"), "{out}");
    // Header order does not matter.
    let out = exchange(b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n").await;
    assert!(
        out.contains("both Content-Length and Transfer-Encoding"),
        "{out}"
    );
}

#[tokio::test]
async fn ambiguous_lengths_and_encodings_are_refused() {
    for (raw, why) in [
        (&b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"[..], "more than one Content-Length"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", "plain decimal"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", "plain decimal"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "single `chunked`"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "single `chunked`"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "single `chunked`"),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.0"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "exactly one Host"),
        (b"GET / HTTP/1.1\r\n\r\n", "exactly one Host"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n", "obs-fold"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", "only WebSocket upgrades"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nContent-Length: 1\r\n\r\nx", "without a body"),
        (b"CONNECT other:443 HTTP/1.1\r\nHost: other:443\r\n\r\n", "CONNECT is not allowed"),
    ] {
        let out = exchange(raw).await;
        assert!(out.starts_with("HTTP/1.1 400"), "{}: {out}", String::from_utf8_lossy(raw));
        assert!(out.contains(why), "{}: {out}", String::from_utf8_lossy(raw));
    }
}

#[tokio::test]
async fn a_refusal_after_a_good_request_answers_both_in_order() {
    let out = exchange(
        b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\nPOST /bad HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    )
    .await;
    let got = bodies(&out);
    assert_eq!(got[0], "GET /ok 0", "{out}");
    assert!(got[1].starts_with("refused:"), "{out}");
    assert_eq!(got.len(), 2, "{out}");
}

#[tokio::test]
async fn oversized_heads_get_431() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    raw.extend_from_slice(format!("X-Big: {}\r\n", "a".repeat(70 * 1024)).as_bytes());
    raw.extend_from_slice(b"\r\n");
    let out = exchange(&raw).await;
    assert!(
        out.starts_with("HTTP/1.1 431"),
        "{}",
        &out[..out.len().min(200)]
    );

    let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..200 {
        many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let out = exchange(&many).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
}

#[tokio::test]
async fn the_refusal_marker_needs_the_connection_secret() {
    let out = exchange(b"GET /x HTTP/1.1\r\nHost: h\r\nx-cordon-refused: guess\r\n\r\n").await;
    assert_eq!(bodies(&out), ["GET /x 0"], "{out}");
}

#[tokio::test]
async fn malformed_chunk_framing_ends_the_connection() {
    let out = exchange(b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert!(!out.contains("/smuggled"), "{out}");
    let out = exchange(
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert!(!out.contains("POST /c 3"), "{out}");
}

#[test]
fn chunk_sizes_parse_strictly() {
    assert_eq!(parse_chunk_size(b"1a").unwrap(), 26);
    assert_eq!(parse_chunk_size(b"1A ;x=y").unwrap(), 26);
    assert!(parse_chunk_size(b"").is_err());
    assert!(parse_chunk_size(b"-1").is_err());
    assert!(parse_chunk_size(b"1 2").is_err());
    assert!(parse_chunk_size(b"11111111111111111").is_err());
}
