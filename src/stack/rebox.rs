//! The adapter under the layers: whatever request body the layers above
//! hand down (a replayable body, once per layer) reaches the inner service
//! as a [`StackBody`].

use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::Body;
use tower::{BoxError, Service};

use super::{box_body, StackBody};

/// The inner service of a stack, below its lowest layer (its errors are
/// boxed by the caller, with tower's `map_err`).
#[derive(Clone)]
pub(crate) struct Rebox<S>(pub S);

impl<S, B> Service<Request<B>> for Rebox<S>
where
    S: Service<Request<StackBody>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.0.call(request.map(box_body))
    }
}
