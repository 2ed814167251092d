//! A body wrapper that counts the bytes passing through and runs a callback once when
//! the body ends or is dropped: how a forwarded request learns its byte counts and
//! writes its audit line after the response has streamed, without buffering.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Runs once when the body is finished (fully read, failed or abandoned).
pub(crate) type OnEnd = Box<dyn FnOnce() + Send>;

/// Counts data bytes of `inner` into `counter`.
pub(crate) struct CountingBody<B> {
    inner: B,
    counter: Arc<AtomicU64>,
    on_end: Option<OnEnd>,
}

impl<B> CountingBody<B> {
    pub(crate) fn new(inner: B, counter: Arc<AtomicU64>, on_end: Option<OnEnd>) -> CountingBody<B> {
        CountingBody {
            inner,
            counter,
            on_end,
        }
    }

    fn finish(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end();
        }
    }
}

impl<B> Body for CountingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
            Poll::Ready(None | Some(Err(_))) => self.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for CountingBody<B> {
    fn drop(&mut self) {
        self.finish();
    }
}
