//! The adapter under the layers: whatever request body the layers above
//! hand down (a replayable body, once per layer) reaches the inner service
//! as a [`StackBody`], and its errors as a [`BoxError`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::{BoxError, Service};

use super::{box_body, StackBody};

/// The inner service of a stack, below its lowest layer.
#[derive(Clone)]
pub(crate) struct Rebox<S>(pub S);

impl<S, B, ResBody> Service<Request<B>> for Rebox<S>
where
    S: Service<Request<StackBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ReboxFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ReboxFuture {
            inner: self.0.call(request.map(box_body)),
        }
    }
}

pin_project! {
    /// The inner service's future, its error boxed.
    pub(crate) struct ReboxFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, T, E> Future for ReboxFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(Into::into)
    }
}
