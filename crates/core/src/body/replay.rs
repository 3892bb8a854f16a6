//! Buffering a request body up to a limit without ever losing it.
//!
//! Layers need the whole body to work out [`crate::RequestFacts`], but a
//! body over the limit, or one that fails half-way, must still reach the
//! upstream exactly as it came. [`collect_limited`] reads up to the limit and
//! returns a [`ReplayBody`] that yields what was read and then the rest of
//! the original body (or its error), so nothing is dropped.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_core::body::{collect_limited, Collected};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let body = Full::new(Bytes::from_static(b"0123456789"));
//! let Collected::Incomplete { body, reason } = collect_limited(body, 4).await else {
//!     panic!("over the limit");
//! };
//! assert_eq!(body.collect().await.unwrap().to_bytes(), "0123456789");
//! # let _ = reason;
//! # });
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

use crate::facts::Opaque;

/// The result of [`collect_limited`].
pub enum Collected<B: Body> {
    /// The whole body, within the limit. `body` replays it.
    Complete {
        /// The complete body bytes.
        bytes: Bytes,
        /// A body that yields the same bytes (and trailers, if any).
        body: ReplayBody<B>,
    },
    /// The body was over the limit or failed: `body` forwards it untouched.
    Incomplete {
        /// A body that yields everything the original would have.
        body: ReplayBody<B>,
        /// [`Opaque::TooLarge`] or [`Opaque::BodyError`].
        reason: Opaque,
    },
}

/// Reads `body` into memory if it holds at most `limit` bytes.
pub async fn collect_limited<B>(mut body: B, limit: usize) -> Collected<B>
where
    B: Body + Unpin,
{
    if body.size_hint().lower() > limit as u64 {
        return Collected::Incomplete {
            body: ReplayBody::passthrough(Bytes::new(), Some(body)),
            reason: Opaque::TooLarge,
        };
    }
    let mut buffer = Gathered::default();
    loop {
        match body.frame().await {
            None => {
                let bytes = buffer.into_bytes();
                return Collected::Complete {
                    body: ReplayBody::complete(bytes.clone(), None),
                    bytes,
                };
            }
            Some(Err(error)) => {
                return Collected::Incomplete {
                    body: ReplayBody::failed(buffer.into_bytes(), error),
                    reason: Opaque::BodyError,
                };
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(mut data) => {
                    let over = buffer.len() + data.remaining() > limit;
                    buffer.push(data.copy_to_bytes(data.remaining()));
                    if over {
                        return Collected::Incomplete {
                            body: ReplayBody::passthrough(buffer.into_bytes(), Some(body)),
                            reason: Opaque::TooLarge,
                        };
                    }
                }
                Err(frame) => {
                    // Trailers end the body.
                    let trailers = frame.into_trailers().ok();
                    let bytes = buffer.into_bytes();
                    return Collected::Complete {
                        body: ReplayBody::complete(bytes.clone(), trailers),
                        bytes,
                    };
                }
            },
        }
    }
}

/// The chunks read so far. The first is kept as it came, so that a body of
/// one chunk (the usual request) is neither copied nor reallocated; a
/// second one joins them.
#[derive(Default)]
struct Gathered {
    first: Option<Bytes>,
    joined: BytesMut,
}

impl Gathered {
    fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.joined.len()
    }

    fn push(&mut self, chunk: Bytes) {
        if self.first.is_none() && self.joined.is_empty() {
            self.first = Some(chunk);
            return;
        }
        if let Some(first) = self.first.take() {
            self.joined.reserve(first.len() + chunk.len());
            self.joined.extend_from_slice(&first);
        }
        self.joined.extend_from_slice(&chunk);
    }

    fn into_bytes(self) -> Bytes {
        match self.first {
            Some(first) => first,
            None => self.joined.freeze(),
        }
    }
}

pin_project! {
    /// A body made of bytes already read, then what is left of the original
    /// body (or the error it failed with).
    pub struct ReplayBody<B: Body> {
        // Boxed: a layer that finds the facts known passes the body on with
        // nothing read, and a body nested once per layer moves with every
        // request (this keeps a level to two words and the rest's own).
        read: Option<Box<Read<B::Error>>>,
        #[pin]
        rest: Option<B>,
    }
}

/// What a [`ReplayBody`] yields before and after the rest of its body.
struct Read<E> {
    prefix: Option<Bytes>,
    /// The error the original body failed with, after the prefix.
    error: Option<E>,
    /// Trailers, after everything else.
    trailers: Option<HeaderMap>,
}

impl<B: Body> ReplayBody<B> {
    /// A body that yields `bytes`, then `trailers` if any.
    pub fn complete(bytes: Bytes, trailers: Option<HeaderMap>) -> Self {
        ReplayBody::with_read(Some(bytes), None, trailers, None)
    }

    /// A body that yields what `rest` yields, nothing read from it: what a
    /// layer that finds the facts known passes on (built in place, as it
    /// is once per layer on every request).
    pub fn unread(rest: B) -> Self {
        ReplayBody {
            read: None,
            rest: Some(rest),
        }
    }

    /// A body that yields `prefix`, then everything `rest` yields.
    pub fn passthrough(prefix: Bytes, rest: Option<B>) -> Self {
        ReplayBody::with_read(Some(prefix), None, None, rest)
    }

    /// A body that yields `prefix`, then fails with `error`.
    fn failed(prefix: Bytes, error: B::Error) -> Self {
        ReplayBody::with_read(Some(prefix), Some(error), None, None)
    }

    fn with_read(
        prefix: Option<Bytes>,
        error: Option<B::Error>,
        trailers: Option<HeaderMap>,
        rest: Option<B>,
    ) -> Self {
        let prefix = prefix.filter(|bytes| !bytes.is_empty());
        let nothing_read = prefix.is_none() && error.is_none() && trailers.is_none();
        ReplayBody {
            read: (!nothing_read).then(|| {
                Box::new(Read {
                    prefix,
                    error,
                    trailers,
                })
            }),
            rest,
        }
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if let Some(read) = this.read.as_deref_mut() {
            if let Some(prefix) = read.prefix.take() {
                return Poll::Ready(Some(Ok(Frame::data(prefix))));
            }
            if let Some(error) = read.error.take() {
                return Poll::Ready(Some(Err(error)));
            }
        }
        if let Some(rest) = this.rest.as_pin_mut() {
            return rest.poll_frame(cx).map(|frame| {
                frame.map(|frame| {
                    frame.map(|frame| {
                        frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                    })
                })
            });
        }
        let trailers = this
            .read
            .as_deref_mut()
            .and_then(|read| read.trailers.take());
        Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        let read_all = self.read.as_deref().is_none_or(|read| {
            read.prefix.is_none() && read.error.is_none() && read.trailers.is_none()
        });
        read_all && self.rest.as_ref().is_none_or(|rest| rest.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self
            .read
            .as_deref()
            .and_then(|read| read.prefix.as_ref())
            .map_or(0, |p| p.len() as u64);
        match &self.rest {
            Some(rest) => {
                let hint = rest.size_hint();
                let mut total = SizeHint::new();
                total.set_lower(hint.lower() + prefix);
                if let Some(upper) = hint.upper() {
                    total.set_upper(upper + prefix);
                }
                total
            }
            None => SizeHint::with_exact(prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use std::collections::VecDeque;

    #[tokio::test]
    async fn small_bodies_are_collected_and_replayed() {
        let Collected::Complete { bytes, body } =
            collect_limited(Full::new(Bytes::from_static(b"abc")), 3).await
        else {
            panic!("expected complete");
        };
        assert_eq!(bytes, "abc");
        assert_eq!(body.size_hint().exact(), Some(3));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
    }

    #[tokio::test]
    async fn large_bodies_are_forwarded_whole() {
        let body = Chunks((0..10).map(|i| Bytes::from(vec![i as u8; 100])).collect());
        let Collected::Incomplete { body, reason } = collect_limited(body, 250).await else {
            panic!("expected incomplete");
        };
        assert_eq!(reason, Opaque::TooLarge);
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(all.len(), 1000);
        assert!(all
            .chunks(100)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == i as u8)));
    }

    #[tokio::test]
    async fn chunks_are_joined_in_order_and_one_chunk_is_not_copied() {
        let chunks = ["ab", "", "cde", "f"].map(|c| Bytes::from(c.to_owned()));
        let Collected::Complete { bytes, body } =
            collect_limited(Chunks(chunks.into_iter().collect()), 6).await
        else {
            panic!("expected complete");
        };
        assert_eq!(bytes, "abcdef");
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abcdef");

        let only = Bytes::from(b"{\"model\":\"m\"}".to_vec());
        let Collected::Complete { bytes, .. } =
            collect_limited(Chunks([only.clone()].into_iter().collect()), 100).await
        else {
            panic!("expected complete");
        };
        assert_eq!(
            bytes.as_ptr(),
            only.as_ptr(),
            "the chunk itself, not a copy"
        );
        // An empty first chunk, then the body.
        let Collected::Complete { bytes, .. } =
            collect_limited(Chunks([Bytes::new(), only].into_iter().collect()), 100).await
        else {
            panic!("expected complete");
        };
        assert_eq!(bytes, r#"{"model":"m"}"#);
    }

    /// A body of several chunks whose size is not announced.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = &'static str;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    struct Failing(bool);

    impl Body for Failing {
        type Data = Bytes;
        type Error = &'static str;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            let first = std::mem::replace(&mut self.0, false);
            Poll::Ready(Some(if first {
                Ok(Frame::data(Bytes::from_static(b"ab")))
            } else {
                Err("reset")
            }))
        }
    }

    #[tokio::test]
    async fn failed_bodies_replay_what_was_read_then_the_error() {
        let Collected::Incomplete { mut body, reason } = collect_limited(Failing(true), 100).await
        else {
            panic!("expected incomplete");
        };
        assert_eq!(reason, Opaque::BodyError);
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "ab"
        );
        assert_eq!(body.frame().await.unwrap().err(), Some("reset"));
    }

    #[tokio::test]
    async fn trailers_come_after_the_bytes_and_a_passed_on_body_is_unchanged() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "1".parse().unwrap());
        let complete =
            ReplayBody::<Full<Bytes>>::complete(Bytes::from_static(b"ab"), Some(trailers));
        let collected = complete.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-checksum"], "1");
        assert_eq!(collected.to_bytes(), "ab");

        let inner = ReplayBody::complete(Bytes::from_static(b"cd"), None);
        let passed_on = ReplayBody::<ReplayBody<Full<Bytes>>>::unread(inner);
        assert_eq!(passed_on.size_hint().exact(), Some(2));
        assert!(!passed_on.is_end_stream());
        assert_eq!(passed_on.collect().await.unwrap().to_bytes(), "cd");
        let empty_prefix = ReplayBody::<ReplayBody<Full<Bytes>>>::passthrough(
            Bytes::new(),
            Some(ReplayBody::complete(Bytes::from_static(b"ef"), None)),
        );
        assert_eq!(empty_prefix.collect().await.unwrap().to_bytes(), "ef");
    }

    #[test]
    fn a_body_passed_on_by_each_layer_grows_by_two_words_a_level() {
        // Every layer of a stack passes the request body on in one more
        // ReplayBody, and the request moves through every layer's call.
        type One = ReplayBody<Full<Bytes>>;
        type Two = ReplayBody<One>;
        type Three = ReplayBody<Two>;
        let word = std::mem::size_of::<usize>();
        assert!(std::mem::size_of::<Two>() <= std::mem::size_of::<One>() + 2 * word);
        assert!(std::mem::size_of::<Three>() <= std::mem::size_of::<Two>() + 2 * word);
    }
}
