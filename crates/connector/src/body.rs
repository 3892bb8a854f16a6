//! The response body the connector hands out: hyper's, holding its
//! connection (HTTP/1.1) or stream (HTTP/2) until it ends.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// Gives a connection or a stream back to the pool.
pub(crate) trait Release: Send + Sync {
    /// `whole`: the response was read to its end (an HTTP/1.1 connection
    /// can then serve another request; otherwise it is closed).
    fn release(self: Box<Self>, whole: bool);
}

/// A response body from the upstream. When it has been read to its end,
/// or dropped, its connection goes back to the pool.
pub struct UpstreamBody {
    inner: Incoming,
    lease: Option<Box<dyn Release>>,
}

impl UpstreamBody {
    pub(crate) fn new(inner: Incoming, lease: Box<dyn Release>) -> UpstreamBody {
        UpstreamBody {
            inner,
            lease: Some(lease),
        }
    }

    fn release(&mut self, whole: bool) {
        if let Some(lease) = self.lease.take() {
            lease.release(whole);
        }
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            None => this.release(true),
            Some(Err(_)) => this.release(false),
            // The last frame: the connection is free before the reader
            // polls again (a reader that knows the length may not).
            Some(Ok(_)) if this.inner.is_end_stream() => this.release(true),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        let whole = self.inner.is_end_stream();
        self.release(whole);
    }
}
