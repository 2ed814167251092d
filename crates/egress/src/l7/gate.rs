//! A guard in front of the HTTP/1 parser of an inspected connection: it reads every
//! request head first, refuses the ambiguous ones, and tracks body framing so it
//! knows where the next head starts.
//!
//! Why not leave it to hyper: hyper is correct but lenient where RFC 9112 allows it
//! to be — it accepts `Content-Length` together with `Transfer-Encoding` (dropping the
//! length), and repeated identical lengths. Request smuggling lives in exactly those
//! corners, so an inspecting proxy refuses them outright. The guard parses with
//! `httparse`, the same parser hyper uses, so both always agree on where a head ends;
//! body framing is tracked strictly (any oddity in chunked framing is an I/O error
//! that ends the connection), so a head the guard did not check never reaches hyper.
//!
//! A refusal cannot be answered from inside a stream, so the guard hands hyper one
//! last, synthetic request carrying a per-connection secret, then end-of-stream. The
//! service recognises the secret ([`GateShared::take_refusal`]) and answers with the
//! refusal. Clients cannot forge it: the secret is random and never sent to them.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::limits::{MAX_REQUEST_HEAD_BYTES, MAX_REQUEST_HEADERS};

/// Header of the synthetic request that carries a refusal to the service.
pub const REFUSAL_HEADER: &str = "x-cordon-refused";

/// Longest chunk-size line (size, extensions, CRLF). At the limit: I/O error, the
/// connection ends. Real clients send a few hex digits.
const MAX_CHUNK_LINE: usize = 1024;
/// Most trailer bytes after the last chunk. At the limit: I/O error.
const MAX_TRAILER_BYTES: usize = 8 * 1024;
/// Bytes read from the client per read call.
const READ_CHUNK: usize = 16 * 1024;

/// A refused request head: what to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400 or 431.
    pub status: StatusCode,
    /// Why, for the response body and the audit line.
    pub reason: &'static str,
}

/// State shared between a [`Gate`] and the service reading requests from it.
#[derive(Debug)]
pub struct GateShared {
    nonce: String,
    refusal: Mutex<Option<Refusal>>,
}

impl GateShared {
    /// If `marker` (the value of [`REFUSAL_HEADER`]) is this connection's secret,
    /// the refusal the guard recorded.
    pub fn take_refusal(&self, marker: Option<&[u8]>) -> Option<Refusal> {
        if marker? != self.nonce.as_bytes() {
            return None;
        }
        self.refusal.lock().ok()?.take()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data; how many of its two bytes were seen.
    DataEnd(u8),
    /// After the last chunk: trailer lines until an empty line.
    Trailers { seen: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Fixed(u64),
    Chunked(Chunk),
    /// After an upgrade request: raw bytes (hyper decides whether it upgrades; the
    /// service closes the connection when it does not).
    Passthrough,
    /// After a refusal: nothing more is read. Reads stay pending (not end-of-stream):
    /// hyper would drop an in-flight request on end-of-stream, and it closes the
    /// connection itself after answering the synthetic `connection: close` request.
    Refused,
    /// After end of input.
    Closed,
}

/// The guard: wraps the client stream, is read by hyper.
#[derive(Debug)]
pub struct Gate<S> {
    inner: S,
    state: State,
    /// Read from the client, not yet checked.
    pending: BytesMut,
    /// Checked, ready for hyper.
    out: BytesMut,
    shared: Arc<GateShared>,
}

impl<S> Gate<S> {
    /// Guards `inner`; `nonce` is the per-connection secret of refusal requests.
    pub fn new(inner: S, nonce: String) -> Gate<S> {
        Gate {
            inner,
            state: State::Head,
            pending: BytesMut::new(),
            out: BytesMut::new(),
            shared: Arc::new(GateShared {
                nonce,
                refusal: Mutex::new(None),
            }),
        }
    }

    /// The state to give the service.
    pub fn shared(&self) -> Arc<GateShared> {
        Arc::clone(&self.shared)
    }

    /// The guarded stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    fn refuse(&mut self, refusal: Refusal) {
        let synthetic = format!(
            "GET /cordon-refused HTTP/1.1\r\nhost: refused.cordon.invalid\r\n{REFUSAL_HEADER}: {}\r\nconnection: close\r\n\r\n",
            self.shared.nonce
        );
        if let Ok(mut slot) = self.shared.refusal.lock() {
            *slot = Some(refusal);
        }
        self.pending.clear();
        self.out.extend_from_slice(synthetic.as_bytes());
        self.state = State::Refused;
    }

    /// Moves checked bytes from `pending` to `out`, advancing the state. Returns
    /// whether more input is needed to make progress.
    fn advance(&mut self) -> io::Result<bool> {
        loop {
            if self.pending.is_empty() {
                return Ok(true);
            }
            match self.state {
                State::Closed | State::Refused => {
                    self.pending.clear();
                    return Ok(false);
                }
                State::Passthrough => {
                    let all = self.pending.split();
                    self.out.unsplit(all);
                    return Ok(false);
                }
                State::Head => match check_head(&self.pending) {
                    Ok(None) => return Ok(true),
                    Ok(Some((len, next))) => {
                        let head = self.pending.split_to(len);
                        self.out.unsplit(head);
                        self.state = next;
                    }
                    Err(refusal) => {
                        self.refuse(refusal);
                        return Ok(false);
                    }
                },
                State::Fixed(left) => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(self.pending.len());
                    let body = self.pending.split_to(take);
                    self.out.unsplit(body);
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Head
                    } else {
                        State::Fixed(left)
                    };
                }
                State::Chunked(chunk) => {
                    let (used, next) = step_chunked(chunk, &self.pending)?;
                    if used == 0 {
                        return Ok(true);
                    }
                    let bytes = self.pending.split_to(used);
                    self.out.unsplit(bytes);
                    self.state = next;
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Gate<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.out.is_empty() {
                let n = self.out.len().min(buf.remaining());
                buf.put_slice(&self.out[..n]);
                self.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            match self.state {
                State::Closed => return Poll::Ready(Ok(())),
                State::Refused => return Poll::Pending,
                _ => {}
            }
            let need_more = self.advance()?;
            if !need_more || !self.out.is_empty() {
                continue;
            }
            let mut tmp = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // End of input. Unfinished framing is hyper's to report.
                self.state = State::Closed;
                let rest = self.pending.split();
                self.out.unsplit(rest);
                continue;
            }
            self.pending.extend_from_slice(read.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gate<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn bad(reason: &'static str) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        reason,
    }
}

/// Parses one request head at the start of `bytes`: `Ok(None)` = incomplete,
/// `Ok(Some((length, state after it)))`, or the refusal.
fn check_head(bytes: &[u8]) -> Result<Option<(usize, State)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let too_large = Refusal {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        reason: "the request head is larger than 64 KiB",
    };
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(len)) if len > MAX_REQUEST_HEAD_BYTES => {
            return Err(too_large);
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() > MAX_REQUEST_HEAD_BYTES => {
            return Err(too_large);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal {
                status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                reason: "the request has more than 128 headers",
            });
        }
        Err(_) => {
            return Err(bad(
                "malformed request head (invalid request line, header syntax, or obs-fold continuation lines)",
            ));
        }
    };
    let http11 = req.version == Some(1);
    if req.method == Some("CONNECT") {
        return Err(bad("CONNECT is not allowed inside an inspected connection"));
    }
    let (mut lengths, mut encodings, mut hosts, mut upgrade) = (0, 0, 0, false);
    let mut body: u64 = 0;
    let mut chunked = false;
    for header in req.headers.iter() {
        let value = header.value;
        if header.name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
                return Err(bad("Content-Length is not a plain decimal number"));
            }
            body = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or(bad("Content-Length is not a plain decimal number"))?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
            chunked = value.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if header.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if header.name.eq_ignore_ascii_case("upgrade") {
            if !value.trim_ascii().eq_ignore_ascii_case(b"websocket") {
                return Err(bad(
                    "only WebSocket upgrades are allowed on an inspected connection",
                ));
            }
            upgrade = true;
        }
    }
    if lengths > 0 && encodings > 0 {
        return Err(bad(
            "the request has both Content-Length and Transfer-Encoding",
        ));
    }
    if lengths > 1 {
        return Err(bad("the request has more than one Content-Length header"));
    }
    if encodings > 1 || (encodings == 1 && !chunked) {
        return Err(bad(
            "Transfer-Encoding other than a single `chunked` is not accepted",
        ));
    }
    if encodings == 1 && !http11 {
        return Err(bad("HTTP/1.0 requests cannot use Transfer-Encoding"));
    }
    if hosts > 1 || (hosts == 0 && http11) {
        return Err(bad("an HTTP/1.1 request needs exactly one Host header"));
    }
    if upgrade {
        if chunked || body > 0 || req.method != Some("GET") || !http11 {
            return Err(bad(
                "a WebSocket upgrade must be an HTTP/1.1 GET without a body",
            ));
        }
        return Ok(Some((len, State::Passthrough)));
    }
    let next = if chunked {
        State::Chunked(Chunk::Size)
    } else if body > 0 {
        State::Fixed(body)
    } else {
        State::Head
    };
    Ok(Some((len, next)))
}

fn framing_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid chunked body: {what}"),
    )
}

/// Consumes as much of `bytes` as the chunked framing state allows; returns bytes
/// used and the new state (`used == 0` = need more input).
fn step_chunked(mut chunk: Chunk, bytes: &[u8]) -> io::Result<(usize, State)> {
    let mut used = 0;
    loop {
        let rest = &bytes[used..];
        if rest.is_empty() {
            return Ok((used, State::Chunked(chunk)));
        }
        match chunk {
            Chunk::Size => {
                let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                    if rest.len() > MAX_CHUNK_LINE {
                        return Err(framing_error("chunk-size line too long"));
                    }
                    return Ok((used, State::Chunked(chunk)));
                };
                let line = &rest[..end];
                let line = line
                    .strip_suffix(b"\r")
                    .ok_or_else(|| framing_error("chunk-size line not ended by CRLF"))?;
                let size = parse_chunk_size(line)?;
                used += end + 1;
                chunk = if size == 0 {
                    Chunk::Trailers { seen: 0 }
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                used += take;
                let left = left - take as u64;
                chunk = if left == 0 {
                    Chunk::DataEnd(0)
                } else {
                    Chunk::Data(left)
                };
            }
            Chunk::DataEnd(seen) => {
                let expected = if seen == 0 { b'\r' } else { b'\n' };
                if rest[0] != expected {
                    return Err(framing_error("chunk data not followed by CRLF"));
                }
                used += 1;
                chunk = if seen == 0 {
                    Chunk::DataEnd(1)
                } else {
                    Chunk::Size
                };
            }
            Chunk::Trailers { seen } => {
                let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                    if seen + rest.len() > MAX_TRAILER_BYTES {
                        return Err(framing_error("trailers too long"));
                    }
                    return Ok((used, State::Chunked(chunk)));
                };
                let line = &rest[..end];
                if line.last() != Some(&b'\r') {
                    return Err(framing_error("trailer line not ended by CRLF"));
                }
                used += end + 1;
                if line.len() == 1 {
                    return Ok((used, State::Head));
                }
                if line[0] == b' ' || line[0] == b'\t' {
                    return Err(framing_error("obs-fold in trailers"));
                }
                let seen = seen + end + 1;
                if seen > MAX_TRAILER_BYTES {
                    return Err(framing_error("trailers too long"));
                }
                chunk = Chunk::Trailers { seen };
            }
        }
    }
}

/// `1a`, `1a ;ext=1`: hex digits (at most 16), optional whitespace, optional
/// extensions.
fn parse_chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(framing_error("bad chunk size"));
    }
    let rest = &line[digits..];
    let rest = rest.trim_ascii_start();
    if !(rest.is_empty() || rest[0] == b';') || rest.iter().any(|&b| b < 0x20 && b != b'\t') {
        return Err(framing_error("bad chunk size"));
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| framing_error("bad chunk size"))?;
    u64::from_str_radix(text, 16).map_err(|_| framing_error("bad chunk size"))
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
