//! The body of an answer through a breaker: the upstream's, watched until
//! it ends (a body the upstream aborts is a failure), or the breaker's own
//! answer while open.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::call::CallGuard;
use super::state::Outcome;
use crate::timeout::SilentUpstream;

pin_project! {
    /// The body of an answer through [`super::CircuitBreaker`].
    pub struct BreakerBody<B: Body> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProjection]
    enum Inner<B: Body> {
        Upstream {
            #[pin]
            body: B,
            guard: Option<CallGuard>,
            silent: Option<SilentUpstream>,
        },
        Own {
            bytes: Option<Bytes>,
        },
    }
}

impl<B: Body> BreakerBody<B> {
    /// The upstream's body; `guard` (if any) learns how it ends, and a
    /// clean end after a timeout below (`silent`) is a failure too.
    pub(crate) fn upstream(
        body: B,
        guard: Option<CallGuard>,
        silent: Option<SilentUpstream>,
    ) -> Self {
        BreakerBody {
            inner: Inner::Upstream {
                body,
                guard,
                silent,
            },
        }
    }

    /// A body the breaker made.
    pub(crate) fn own(bytes: Bytes) -> Self {
        BreakerBody {
            inner: Inner::Own { bytes: Some(bytes) },
        }
    }
}

impl<B: Body> std::fmt::Debug for BreakerBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerBody").finish_non_exhaustive()
    }
}

impl<B: Body<Data = Bytes>> Body for BreakerBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().inner.project() {
            InnerProjection::Upstream {
                body,
                guard,
                silent,
            } => {
                let polled = body.poll_frame(cx);
                let timed_out = || silent.as_ref().is_some_and(SilentUpstream::timed_out);
                let ended = match &polled {
                    Poll::Ready(None) if timed_out() => Some(Outcome::Failure),
                    Poll::Ready(None) => Some(Outcome::Success),
                    Poll::Ready(Some(Err(_))) => Some(Outcome::Failure),
                    _ => None,
                };
                if let Some(outcome) = ended {
                    if let Some(guard) = guard.take() {
                        guard.finish(outcome);
                    }
                }
                polled
            }
            InnerProjection::Own { bytes } => {
                Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream { body, .. } => body.is_end_stream(),
            Inner::Own { bytes } => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream { body, .. } => body.size_hint(),
            Inner::Own { bytes } => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
        }
    }
}
