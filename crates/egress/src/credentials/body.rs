//! The request body sent upstream once placeholders were dealt with: the client's own
//! body streamed with a placeholder guard, or a body held in memory (already checked,
//! or rewritten by JSON body substitution).
//!
//! The guard searches every frame (together with the end of the previous one, see
//! `cordon_secrets::PlaceholderScanner`) before it is handed on; a frame carrying a
//! placeholder is never forwarded: the body fails instead, the upstream request is
//! aborted, and the proxy answers 403 (the `tripped` flag tells it why).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use cordon_secrets::PlaceholderScanner;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// Errors of [`OutBody`]: the client's body failed, or the guard stopped it.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way upstream.
pub(crate) enum OutBody {
    /// The client's body, relayed frame by frame through the guard.
    Guarded {
        inner: Incoming,
        scanner: PlaceholderScanner,
        tripped: Arc<AtomicBool>,
    },
    /// A complete body (`None` once sent).
    Full(Option<Bytes>),
}

impl OutBody {
    /// The client's body behind the guard; `tripped` is set if the guard stops it.
    pub(crate) fn guarded(inner: Incoming, tripped: Arc<AtomicBool>) -> OutBody {
        OutBody::Guarded {
            inner,
            scanner: PlaceholderScanner::new(),
            tripped,
        }
    }

    /// A body held in memory.
    pub(crate) fn full(bytes: Bytes) -> OutBody {
        OutBody::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            OutBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            OutBody::Guarded {
                inner,
                scanner,
                tripped,
            } => match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref()
                        && scanner.feed(data)
                    {
                        tripped.store(true, Ordering::SeqCst);
                        return Poll::Ready(Some(Err(
                            "the request body carries a cordon placeholder".into(),
                        )));
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Full(bytes) => bytes.is_none(),
            OutBody::Guarded { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            OutBody::Guarded { inner, .. } => inner.size_hint(),
        }
    }
}
