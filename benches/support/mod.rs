//! Pieces the benchmarks share: in-process upstreams (a JSON answer, a
//! stream of pre-made frames) and a driver that sends one request and reads
//! the whole answer. Each bench uses some of them.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Service, ServiceExt};

/// A response body of pre-made frames.
pub struct Frames(pub VecDeque<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// Sends `request` and reads the whole answer.
pub async fn drive<S, B>(service: &mut S, request: http::Request<Full<Bytes>>)
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    response.into_body().collect().await.unwrap();
}

/// An in-process upstream answering every request with `answer`, as JSON.
pub fn json_upstream<B>(
    answer: &'static [u8],
) -> impl Service<
    http::Request<B>,
    Response = http::Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send {
    service_fn(move |_request: http::Request<B>| async move {
        let mut response = http::Response::new(Full::new(Bytes::from_static(answer)));
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        Ok::<_, Infallible>(response)
    })
}

/// An in-process upstream answering every request with the event stream
/// `frames` makes.
pub fn stream_upstream<B>(
    frames: fn() -> VecDeque<Bytes>,
) -> impl Service<
    http::Request<B>,
    Response = http::Response<Frames>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send {
    service_fn(move |_request: http::Request<B>| async move {
        let mut response = http::Response::new(Frames(frames()));
        response
            .headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        Ok::<_, Infallible>(response)
    })
}
