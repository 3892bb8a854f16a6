//! The cache layer's response body: the upstream's body recorded on its
//! way to the caller ([`crate::recorder`]), a replay of a stored entry
//! ([`crate::replay`]), another request's answer shared as it arrives
//! ([`crate::flight`]), or the upstream's body untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use llm_layers_core::body::TapBody;
use pin_project_lite::pin_project;
use tower::BoxError;

use crate::flight::FollowerBody;
use crate::recorder::Recorder;
use crate::replay::Replay;

pin_project! {
    /// The body of a response that passed through the cache layer: the
    /// upstream's (recorded as it streams, or untouched), a stored entry
    /// played back, or another request's upstream answer shared as it
    /// arrives (single flight).
    pub struct ResponseBody<B>
    where
        B: Body,
    {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProjection]
    pub(crate) enum Inner<B>
    where
        B: Body,
    {
        Recorded { #[pin] body: TapBody<B, Recorder> },
        Passthrough { #[pin] body: B },
        Replay { replay: Replay },
        Follower { follower: FollowerBody },
    }
}

impl<B: Body> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.inner {
            Inner::Recorded { .. } => "upstream, recorded",
            Inner::Passthrough { .. } => "upstream",
            Inner::Replay { .. } => "stored entry",
            Inner::Follower { .. } => "shared flight",
        };
        f.debug_struct("ResponseBody")
            .field("source", &source)
            .finish_non_exhaustive()
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn recorded(body: TapBody<B, Recorder>) -> Self {
        ResponseBody {
            inner: Inner::Recorded { body },
        }
    }

    pub(crate) fn passthrough(body: B) -> Self {
        ResponseBody {
            inner: Inner::Passthrough { body },
        }
    }

    pub(crate) fn replay(replay: Replay) -> Self {
        ResponseBody {
            inner: Inner::Replay { replay },
        }
    }

    pub(crate) fn follower(follower: FollowerBody) -> Self {
        ResponseBody {
            inner: Inner::Follower { follower },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().inner.project() {
            InnerProjection::Recorded { body } => body.poll_frame(cx).map_err(Into::into),
            InnerProjection::Passthrough { body } => body.poll_frame(cx).map_err(Into::into),
            InnerProjection::Replay { replay } => replay
                .poll_next(cx)
                .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes)))),
            InnerProjection::Follower { follower } => follower
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|result| result.map(Frame::data).map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Recorded { body } => body.is_end_stream(),
            Inner::Passthrough { body } => body.is_end_stream(),
            Inner::Replay { replay } => replay.is_done(),
            Inner::Follower { follower } => follower.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Recorded { body } => body.size_hint(),
            Inner::Passthrough { body } => body.size_hint(),
            Inner::Replay { replay } => SizeHint::with_exact(replay.remaining_bytes()),
            Inner::Follower { .. } => SizeHint::default(),
        }
    }
}
