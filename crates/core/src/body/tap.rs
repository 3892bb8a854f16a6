//! A body wrapper that lets a layer watch a response stream go by.
//!
//! [`TapBody`] hands every frame to a [`BodyObserver`] as it passes (a
//! `Bytes` clone is a reference count, not a copy) and returns the frame at
//! once: the caller's first chunk is never delayed by the observer. The
//! observer learns exactly once how the body ended: normally, with an error,
//! or by being dropped before its end.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_core::body::{BodyEnd, BodyObserver, TapBody};
//! use std::sync::{Arc, Mutex};
//!
//! #[derive(Clone, Default)]
//! struct Count(Arc<Mutex<(usize, bool)>>);
//!
//! impl<E> BodyObserver<E> for Count {
//!     fn on_data(&mut self, data: &Bytes) {
//!         self.0.lock().unwrap().0 += data.len();
//!     }
//!     fn on_end(&mut self, end: BodyEnd<'_, E>) {
//!         self.0.lock().unwrap().1 = matches!(end, BodyEnd::Complete);
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let seen = Count::default();
//! let body = TapBody::new(Full::new(Bytes::from_static(b"hello")), seen.clone());
//! let bytes = body.collect().await.unwrap().to_bytes();
//! assert_eq!(bytes, "hello");
//! assert_eq!(*seen.0.lock().unwrap(), (5, true));
//! # });
//! ```

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// How a watched body ended.
#[derive(Debug)]
pub enum BodyEnd<'a, E> {
    /// The body reached its end.
    Complete,
    /// The body failed with this error (it is passed on to the caller too).
    Error(&'a E),
    /// The body was dropped before its end (the caller went away).
    Dropped,
}

/// Watches a body's frames. `on_end` is called exactly once.
pub trait BodyObserver<E>: Send {
    /// A data frame passed by.
    fn on_data(&mut self, _data: &Bytes) {}
    /// The trailers passed by.
    fn on_trailers(&mut self, _trailers: &HeaderMap) {}
    /// The body ended.
    fn on_end(&mut self, end: BodyEnd<'_, E>);
}

/// Calls `on_end(Dropped)` if the body is dropped before it ended.
struct Armed<O: BodyObserver<E>, E> {
    // Boxed: an answer's body, wrapped once per layer, moves up through
    // every layer's future; an observer's state stays where it is.
    observer: Option<Box<O>>,
    _error: PhantomData<fn(&E)>,
}

impl<O: BodyObserver<E>, E> Armed<O, E> {
    fn end(&mut self, end: BodyEnd<'_, E>) {
        if let Some(mut observer) = self.observer.take() {
            observer.on_end(end);
        }
    }
}

impl<O: BodyObserver<E>, E> Drop for Armed<O, E> {
    fn drop(&mut self) {
        self.end(BodyEnd::Dropped);
    }
}

pin_project! {
    /// A body that shows each frame to an observer on its way through.
    pub struct TapBody<B, O>
    where
        B: Body,
        O: BodyObserver<B::Error>,
    {
        #[pin]
        inner: B,
        armed: Armed<O, B::Error>,
    }
}

impl<B, O> TapBody<B, O>
where
    B: Body,
    O: BodyObserver<B::Error>,
{
    /// Wraps `inner`, reporting to `observer`.
    pub fn new(inner: B, observer: O) -> Self {
        TapBody::with_boxed(inner, Box::new(observer))
    }

    /// Wraps `inner`, reporting to an observer already boxed (as a layer
    /// that made it before the call keeps it, so that its future stays
    /// small).
    pub fn with_boxed(inner: B, observer: Box<O>) -> Self {
        TapBody {
            inner,
            armed: Armed {
                observer: Some(observer),
                _error: PhantomData,
            },
        }
    }
}

impl<B, O> Body for TapBody<B, O>
where
    B: Body<Data = Bytes>,
    O: BodyObserver<B::Error>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                if let Some(observer) = this.armed.observer.as_mut() {
                    if let Some(data) = frame.data_ref() {
                        observer.on_data(data);
                    } else if let Some(trailers) = frame.trailers_ref() {
                        observer.on_trailers(trailers);
                    }
                }
                // Callers such as hyper stop polling once the body says it has
                // ended, so the end is reported with the last frame.
                if this.inner.is_end_stream() {
                    this.armed.end(BodyEnd::Complete);
                }
            }
            Some(Err(error)) => this.armed.end(BodyEnd::Error(error)),
            None => this.armed.end(BodyEnd::Complete),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl<E: std::fmt::Display> BodyObserver<E> for Log {
        fn on_data(&mut self, data: &Bytes) {
            self.0.lock().unwrap().push(format!("data {}", data.len()));
        }
        fn on_trailers(&mut self, _: &HeaderMap) {
            self.0.lock().unwrap().push("trailers".into());
        }
        fn on_end(&mut self, end: BodyEnd<'_, E>) {
            let text = match end {
                BodyEnd::Complete => "complete".to_owned(),
                BodyEnd::Error(e) => format!("error {e}"),
                BodyEnd::Dropped => "dropped".to_owned(),
            };
            self.0.lock().unwrap().push(text);
        }
    }

    type Item = Result<Frame<Bytes>, &'static str>;

    /// A body that yields scripted frames; `Pending` forever once out of them
    /// when `hang` is set.
    struct Script {
        items: std::collections::VecDeque<Item>,
        hang: bool,
    }

    impl Body for Script {
        type Data = Bytes;
        type Error = &'static str;
        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Item>> {
            match self.items.pop_front() {
                Some(item) => Poll::Ready(Some(item)),
                None if self.hang => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn script(items: Vec<Item>, hang: bool) -> Script {
        Script {
            items: items.into(),
            hang,
        }
    }

    #[tokio::test]
    async fn reports_frames_and_the_end_once() {
        let log = Log::default();
        let body = TapBody::new(
            script(
                vec![
                    Ok(Frame::data(Bytes::from_static(b"ab"))),
                    Ok(Frame::trailers(HeaderMap::new())),
                ],
                false,
            ),
            log.clone(),
        );
        let collected = body.collect().await.unwrap();
        assert!(collected.trailers().is_some());
        assert_eq!(*log.0.lock().unwrap(), ["data 2", "trailers", "complete"]);
    }

    #[tokio::test]
    async fn reports_an_error_and_passes_it_on() {
        let log = Log::default();
        let body = TapBody::new(
            script(
                vec![Ok(Frame::data(Bytes::from_static(b"a"))), Err("cut")],
                false,
            ),
            log.clone(),
        );
        assert_eq!(body.collect().await.err(), Some("cut"));
        assert_eq!(*log.0.lock().unwrap(), ["data 1", "error cut"]);
    }

    #[tokio::test]
    async fn reports_a_body_dropped_before_its_end() {
        let log = Log::default();
        let mut body = TapBody::new(
            script(vec![Ok(Frame::data(Bytes::from_static(b"abc")))], true),
            log.clone(),
        );
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "abc");
        drop(body);
        assert_eq!(*log.0.lock().unwrap(), ["data 3", "dropped"]);
    }

    #[tokio::test]
    async fn end_is_reported_with_the_last_frame_of_a_sized_body() {
        let log = Log::default();
        let mut body = TapBody::new(
            http_body_util::Full::new(Bytes::from_static(b"xy")),
            log.clone(),
        );
        // Read one frame and stop, as hyper does once `is_end_stream` is true.
        let _ = body.frame().await;
        assert!(body.is_end_stream());
        drop(body);
        let log = log.0.lock().unwrap();
        assert!(log.iter().all(|line| line != "dropped"), "{log:?}");
        assert_eq!(log.last().map(String::as_str), Some("complete"));
    }
}
