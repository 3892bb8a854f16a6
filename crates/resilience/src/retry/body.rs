//! The body of an answer that passed the retry layer: the upstream's, with
//! its first frame held back by the first-chunk gate, or one read to decide
//! on a retry and replayed.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use llm_layers_core::body::ReplayBody;
use pin_project_lite::pin_project;

pin_project! {
    /// The body of an answer through [`super::Retry`]: exactly the bytes
    /// (and the error, if any) of the attempt the caller got.
    pub struct RetryBody<B: Body> {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProjection]
    enum Inner<B: Body> {
        Gated {
            first: Option<Frame<Bytes>>,
            #[pin]
            body: B,
        },
        Read {
            #[pin]
            body: ReplayBody<B>,
        },
        Failed {
            error: Option<B::Error>,
        },
    }
}

impl<B: Body> RetryBody<B> {
    /// `body`, with `first` (a frame already read from it) in front.
    pub(crate) fn gated(first: Option<Frame<Bytes>>, body: B) -> Self {
        RetryBody {
            inner: Inner::Gated { first, body },
        }
    }

    /// A body that failed before its first byte: it fails the same way.
    pub(crate) fn failed(error: B::Error) -> Self {
        RetryBody {
            inner: Inner::Failed { error: Some(error) },
        }
    }

    /// A body read to decide on a retry, replayed.
    pub(crate) fn read(body: ReplayBody<B>) -> Self {
        RetryBody {
            inner: Inner::Read { body },
        }
    }
}

impl<B: Body> std::fmt::Debug for RetryBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBody").finish_non_exhaustive()
    }
}

impl<B> Body for RetryBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().inner.project() {
            InnerProjection::Gated { first, body } => match first.take() {
                Some(frame) => Poll::Ready(Some(Ok(frame))),
                None => body.poll_frame(cx),
            },
            InnerProjection::Read { body } => body.poll_frame(cx),
            InnerProjection::Failed { error } => Poll::Ready(error.take().map(Err)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Gated { first, body } => first.is_none() && body.is_end_stream(),
            Inner::Read { body } => body.is_end_stream(),
            Inner::Failed { error } => error.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Gated { first: None, body } => body.size_hint(),
            Inner::Gated {
                first: Some(frame),
                body,
            } => {
                let held = frame.data_ref().map_or(0, |data| data.len() as u64);
                let rest = body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(held));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(held));
                }
                hint
            }
            Inner::Read { body } => body.size_hint(),
            Inner::Failed { .. } => SizeHint::default(),
        }
    }
}
