//! [`MeteredBody`]: the provider's response body on its way to the agent. Each frame is
//! handed on the moment it arrives (an SSE event is never held back); a copy of the
//! bytes goes through a usage scanner on the side. When the body ends — or the agent
//! goes away — the exchange is finished exactly once: tokens are counted against the
//! budget, the audit line is written, and a cleanly finished connection returns to
//! the pool.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::audit_event::{RequestFacts, RoutedOutcome};
use crate::router::Shared;
use crate::upstream::Connection;
use crate::usage::{JsonUsageScanner, SseUsageScanner, Usage};

/// How the response body is read for usage.
#[derive(Debug)]
pub(crate) enum Scanner {
    /// `text/event-stream`.
    Sse(SseUsageScanner),
    /// JSON (or anything else that might carry a usage object).
    Json(JsonUsageScanner),
}

impl Scanner {
    fn feed(&mut self, bytes: &[u8]) {
        match self {
            Scanner::Sse(s) => s.feed(bytes),
            Scanner::Json(s) => s.feed(bytes),
        }
    }

    fn usage(&self) -> Usage {
        match self {
            Scanner::Sse(s) => s.usage(),
            Scanner::Json(s) => s.usage(),
        }
    }
}

/// Everything needed to close the books on one routed request.
pub(crate) struct Exchange {
    pub shared: Arc<Shared>,
    pub facts: RequestFacts,
    pub status: u16,
    pub connection: Option<Connection>,
    pub streamed: bool,
}

impl Exchange {
    fn finish(mut self, usage: Usage, bytes_down: u64, complete: bool) {
        let ip = self.connection.as_ref().map(|c| c.ip);
        if complete && let Some(conn) = self.connection.take() {
            self.shared.upstream.release(conn);
        }
        self.shared.budget.record_tokens(
            usage.input.unwrap_or(0),
            usage.output.unwrap_or(0),
            Instant::now(),
        );
        let reason =
            (!complete).then_some("the response ended early (client left or provider failed)");
        self.shared.emit(self.facts.routed(RoutedOutcome {
            status: Some(self.status),
            ip,
            usage,
            streamed: self.streamed,
            bytes_down,
            reason,
        }));
    }
}

/// The relayed response body.
pub(crate) struct MeteredBody {
    inner: Incoming,
    scanner: Scanner,
    bytes_down: u64,
    /// `Some` until the exchange is finished (end of body, error, or drop).
    exchange: Option<Exchange>,
}

impl MeteredBody {
    pub(crate) fn new(inner: Incoming, scanner: Scanner, exchange: Exchange) -> MeteredBody {
        MeteredBody {
            inner,
            scanner,
            bytes_down: 0,
            exchange: Some(exchange),
        }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(exchange) = self.exchange.take() {
            exchange.finish(self.scanner.usage(), self.bytes_down, complete);
        }
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes_down += data.len() as u64;
                    this.scanner.feed(data);
                }
                // A length-delimited body is known complete with its last frame; the
                // server may never poll again to see the end.
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.finish(false);
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        // Dropped before its end (the agent went away mid-response), unless the body
        // was already complete and simply never polled to its end.
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}
