//! The response body: idle and total deadlines while it streams.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use llm_layers_core::provider_error::sse_error_event;
use llm_layers_core::ApiKind;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::BoxError;

use super::layer::UpstreamTimeouts;
use super::silent::SilentUpstream;
use super::{TimedOut, TimeoutPhase, ERROR_TYPE};

pin_project! {
    /// The body of an answer that passed [`super::UpstreamTimeout`]: the
    /// upstream's, watched by the idle and total deadlines, or one the
    /// layer made (a timeout's error, or the error event ending a stream).
    #[project = Projection]
    pub struct TimeoutBody<B> {
        #[pin]
        state: State<B>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<B> {
        Watched {
            #[pin]
            body: B,
            deadlines: Deadlines,
        },
        Own {
            bytes: Option<Bytes>,
        },
    }
}

/// The deadlines of a body, and what a timeout looks like for it.
struct Deadlines {
    kind: ApiKind,
    sse: bool,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    total: Option<(Duration, Pin<Box<Sleep>>)>,
    /// The last two bytes passed on: whether the stream stopped between
    /// events or inside one.
    tail: [u8; 2],
    /// Whether the upstream sent a byte of the body yet.
    sent: bool,
    /// Told when a timeout strikes before that.
    silent: SilentUpstream,
}

impl Deadlines {
    /// The timeout that struck, if one did (registering for the next).
    fn poll_struck(&mut self, cx: &mut Context<'_>) -> Option<TimedOut> {
        if let Some((after, sleep)) = &mut self.total {
            if sleep.as_mut().poll(cx).is_ready() {
                return Some(TimedOut {
                    phase: TimeoutPhase::Total,
                    after: *after,
                });
            }
        }
        if let Some((after, sleep)) = &mut self.idle {
            if sleep.as_mut().poll(cx).is_ready() {
                return Some(TimedOut {
                    phase: TimeoutPhase::StreamIdle,
                    after: *after,
                });
            }
        }
        None
    }

    /// A chunk came: the idle clock starts again.
    fn chunk_came<D: AsRef<[u8]>>(&mut self, frame: &Frame<D>) {
        if let Some((after, sleep)) = &mut self.idle {
            sleep.as_mut().reset(Instant::now() + *after);
        }
        if let Some(data) = frame.data_ref() {
            self.sent |= !data.as_ref().is_empty();
            match data.as_ref() {
                [] => {}
                [last] => self.tail = [self.tail[1], *last],
                [.., before, last] => self.tail = [*before, *last],
            }
        }
    }

    /// The error event that ends the stream, after a blank line if the
    /// stream stopped inside an event (so the two are never merged).
    fn error_event(&self, timed_out: &TimedOut) -> Bytes {
        let event = sse_error_event(self.kind, ERROR_TYPE, &timed_out.message());
        if self.tail == *b"\n\n" || self.tail == [0, 0] {
            return event;
        }
        let mut separated = Vec::with_capacity(event.len() + 2);
        separated.extend_from_slice(b"\n\n");
        separated.extend_from_slice(&event);
        separated.into()
    }
}

impl<B> TimeoutBody<B> {
    pub(crate) fn watch(
        body: B,
        kind: ApiKind,
        sse: bool,
        timeouts: UpstreamTimeouts,
        started: Instant,
        silent: SilentUpstream,
    ) -> Self {
        let idle = timeouts
            .stream_idle
            .map(|after| (after, Box::pin(tokio::time::sleep(after))));
        let total = timeouts
            .total
            .map(|after| (after, Box::pin(tokio::time::sleep_until(started + after))));
        TimeoutBody {
            state: State::Watched {
                body,
                deadlines: Deadlines {
                    kind,
                    sse,
                    idle,
                    total,
                    tail: [0, 0],
                    sent: false,
                    silent,
                },
            },
        }
    }

    pub(crate) fn own(bytes: Bytes) -> Self {
        TimeoutBody {
            state: State::Own { bytes: Some(bytes) },
        }
    }
}

impl<B> Body for TimeoutBody<B>
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
        let mut state = self.project().state;
        let struck = match state.as_mut().project() {
            StateProjection::Own { bytes } => {
                return Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes))))
            }
            StateProjection::Watched { body, deadlines } => match body.poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    deadlines.chunk_came(&frame);
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => match deadlines.poll_struck(cx) {
                    None => return Poll::Pending,
                    Some(struck) => {
                        deadlines.silent.mark(!deadlines.sent);
                        (
                            deadlines.sse.then(|| deadlines.error_event(&struck)),
                            struck,
                        )
                    }
                },
            },
        };
        // A timeout: the upstream body goes (and its connection with it).
        let (event, timed_out) = struck;
        if let Some(event) = event {
            state.set(State::Own { bytes: None });
            return Poll::Ready(Some(Ok(Frame::data(event))));
        }
        state.set(State::Own { bytes: None });
        Poll::Ready(Some(Err(Box::new(timed_out))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Watched { body, .. } => body.is_end_stream(),
            State::Own { bytes } => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Watched { body, .. } => body.size_hint(),
            State::Own { bytes } => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
        }
    }
}
