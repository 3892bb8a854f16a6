//! The service and its response future: the head's deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use llm_layers_core::provider_error::{json_error, MadeByLayer};
use llm_layers_core::usage::is_event_stream;
use llm_layers_core::{ApiKind, RequestFacts};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::Service;

use super::body::TimeoutBody;
use super::layer::UpstreamTimeouts;
use super::silent::SilentUpstream;
use super::{TimedOut, TimeoutPhase, ERROR_TYPE};

/// Applies [`UpstreamTimeouts`] to the calls of `S`; built by
/// [`super::UpstreamTimeoutLayer`].
#[derive(Clone, Debug)]
pub struct UpstreamTimeout<S> {
    inner: S,
    timeouts: UpstreamTimeouts,
}

impl<S> UpstreamTimeout<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timeouts: UpstreamTimeouts) -> Self {
        UpstreamTimeout { inner, timeouts }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for UpstreamTimeout<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<TimeoutBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let kind = RequestFacts::from_extensions(request.extensions())
            .map(RequestFacts::kind)
            .filter(|kind| *kind != ApiKind::Unknown)
            .unwrap_or_else(|| ApiKind::of_request(request.method(), request.uri().path()));
        let started = Instant::now();
        let head_limit = [
            self.timeouts.first_byte.map(|after| TimedOut {
                phase: TimeoutPhase::FirstByte,
                after,
            }),
            self.timeouts.total.map(|after| TimedOut {
                phase: TimeoutPhase::Total,
                after,
            }),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|limit| limit.after);
        ResponseFuture {
            inner: self.inner.call(request),
            head_deadline: head_limit.map(|limit| {
                (
                    Box::pin(tokio::time::sleep_until(started + limit.after)),
                    limit,
                )
            }),
            kind,
            timeouts: self.timeouts,
            started,
        }
    }
}

pin_project! {
    /// The response future of [`UpstreamTimeout`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        head_deadline: Option<(Pin<Box<Sleep>>, TimedOut)>,
        kind: ApiKind,
        timeouts: UpstreamTimeouts,
        started: Instant,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<Response<TimeoutBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let (kind, timeouts, started) = (*this.kind, *this.timeouts, *this.started);
            return Poll::Ready(result.map(|mut response| {
                let sse = is_event_stream(&response);
                let silent = SilentUpstream::default();
                response.extensions_mut().insert(silent.clone());
                response.map(|body| TimeoutBody::watch(body, kind, sse, timeouts, started, silent))
            }));
        }
        if let Some((sleep, limit)) = this.head_deadline {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(gateway_timeout(*this.kind, *limit)));
            }
        }
        Poll::Pending
    }
}

/// The 504 a timeout before the head answers, in the provider's shape.
fn gateway_timeout<B: Body>(kind: ApiKind, limit: TimedOut) -> Response<TimeoutBody<B>> {
    let body = json_error(kind, 504, ERROR_TYPE, &limit.message());
    let mut response = Response::new(TimeoutBody::own(body));
    *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.extensions_mut().insert(limit);
    response.extensions_mut().insert(MadeByLayer);
    response
}
