//! A layer that may be off: its service over the inner one, or the inner
//! one alone, as one type. The two give different bodies; the answer's
//! body is the either of them (tower's own `Either` wants one response
//! type for both sides, which layers that wrap bodies cannot give).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use http_body_util::Either;
use pin_project_lite::pin_project;
use tower::{BoxError, Layer, Service};

/// `layer` over `inner` when there is one, else `inner` alone.
pub(crate) fn optional<L: Layer<S>, S>(layer: Option<&L>, inner: S) -> Optional<L::Service, S> {
    match layer {
        Some(layer) => Optional::On(layer.layer(inner)),
        None => Optional::Off(inner),
    }
}

/// See the module documentation.
#[derive(Clone)]
pub(crate) enum Optional<On, Off> {
    On(On),
    Off(Off),
}

impl<On, Off, Request, OnBody, OffBody> Service<Request> for Optional<On, Off>
where
    On: Service<Request, Response = Response<OnBody>>,
    Off: Service<Request, Response = Response<OffBody>>,
    On::Error: Into<BoxError>,
    Off::Error: Into<BoxError>,
{
    type Response = Response<Either<OnBody, OffBody>>;
    type Error = BoxError;
    type Future = OptionalFuture<On::Future, Off::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Optional::On(service) => service.poll_ready(cx).map_err(Into::into),
            Optional::Off(service) => service.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self {
            Optional::On(service) => OptionalFuture::On {
                future: service.call(request),
            },
            Optional::Off(service) => OptionalFuture::Off {
                future: service.call(request),
            },
        }
    }
}

pin_project! {
    /// The response future of [`Optional`].
    #[project = OptionalProjection]
    pub(crate) enum OptionalFuture<On, Off> {
        On { #[pin] future: On },
        Off { #[pin] future: Off },
    }
}

impl<On, Off, OnBody, OffBody, OnError, OffError> Future for OptionalFuture<On, Off>
where
    On: Future<Output = Result<Response<OnBody>, OnError>>,
    Off: Future<Output = Result<Response<OffBody>, OffError>>,
    OnError: Into<BoxError>,
    OffError: Into<BoxError>,
{
    type Output = Result<Response<Either<OnBody, OffBody>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            OptionalProjection::On { future } => future.poll(cx).map(|result| {
                result
                    .map(|response| response.map(Either::Left))
                    .map_err(Into::into)
            }),
            OptionalProjection::Off { future } => future.poll(cx).map(|result| {
                result
                    .map(|response| response.map(Either::Right))
                    .map_err(Into::into)
            }),
        }
    }
}
