//! The mock's response body: whole, or streamed from a task that paces
//! chunks and injects cuts and stalls.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::fault::Fault;

/// The error a cut stream ends with.
#[derive(Debug, thiserror::Error)]
#[error("mock upstream cut the response mid-way")]
pub struct StreamCut;

/// A response body.
#[derive(Debug)]
pub enum MockBody {
    /// A complete body.
    Full(Option<Bytes>),
    /// Chunks sent by a pacing task.
    Channel(mpsc::Receiver<Result<Bytes, StreamCut>>),
}

impl MockBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> MockBody {
        MockBody::Full(Some(bytes.into()))
    }

    /// Sends `chunks` one by one, `delay` apart. A `Cut` fault ends the body
    /// with an error half-way; a `Stall` fault stops sending half-way and
    /// never ends the body.
    pub fn paced(chunks: Vec<Bytes>, delay: Duration, fault: Option<Fault>) -> MockBody {
        let (sender, receiver) = mpsc::channel(8);
        tokio::spawn(async move {
            let halfway = chunks.len() / 2;
            for (index, chunk) in chunks.into_iter().enumerate() {
                if index > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                if index == halfway.max(1) {
                    match fault {
                        Some(Fault::Cut) => {
                            let _ = sender.send(Err(StreamCut)).await;
                            return;
                        }
                        Some(Fault::Stall) => {
                            sender.closed().await;
                            return;
                        }
                        _ => {}
                    }
                }
                if sender.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        });
        MockBody::Channel(receiver)
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = StreamCut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamCut>>> {
        match self.get_mut() {
            MockBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Channel(receiver) => receiver
                .poll_recv(cx)
                .map(|item| item.map(|result| result.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            MockBody::Channel(_) => SizeHint::default(),
        }
    }
}
