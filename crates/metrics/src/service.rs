//! The metrics service: learns the request facts (from an earlier layer, or
//! by buffering the body once), then watches the response until its body
//! ends.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes};
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use llm_layers_core::buffer::{collect_limited, Collected, ReplayBody};
use llm_layers_core::tap::TapBody;
use llm_layers_core::{CacheStatus, RequestFacts};
use pin_project_lite::pin_project;
use tower::{BoxError, Service};

use crate::classify::ErrorKind;
use crate::observer::{CallObserver, CallStart};
use crate::registry::Registry;

/// Records every call through it; built by [`crate::MetricsLayer`].
#[derive(Clone)]
pub struct Metrics<S> {
    pub(crate) inner: S,
    pub(crate) registry: Arc<Registry>,
}

impl<S, B, ResBody> Service<Request<B>> for Metrics<S>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<TapBody<ResBody, CallObserver>>;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        // The ready service goes into the future; a clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let registry = self.registry.clone();
        let (parts, body) = request.into_parts();
        match RequestFacts::from_extensions(&parts.extensions) {
            Some(facts) => {
                let call = CallStart::new(registry, facts.kind(), facts.model(), started);
                let request =
                    Request::from_parts(parts, ReplayBody::passthrough(Bytes::new(), Some(body)));
                ResponseFuture {
                    state: State::Calling {
                        future: inner.call(request),
                    },
                    call: Some(call),
                    registry: None,
                    started,
                }
            }
            None => {
                let limit = registry.config().max_request_bytes;
                ResponseFuture {
                    state: State::Collecting {
                        collect: Box::pin(collect_limited(body, limit)),
                        parts: Some(parts),
                        inner: Some(inner),
                    },
                    call: None,
                    registry: Some(registry),
                    started,
                }
            }
        }
    }
}

type CollectFuture<B> = Pin<Box<dyn Future<Output = Collected<B>> + Send>>;

pin_project! {
    #[project = StateProjection]
    enum State<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
        B: Body,
    {
        Collecting {
            collect: CollectFuture<B>,
            parts: Option<Parts>,
            inner: Option<S>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
    }
}

pin_project! {
    /// The response future of [`Metrics`].
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
        B: Body,
    {
        #[pin]
        state: State<S, B>,
        call: Option<CallStart>,
        registry: Option<Arc<Registry>>,
        started: Instant,
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    B: Body,
    ResBody: Body<Data = Bytes>,
{
    type Output = Result<Response<TapBody<ResBody, CallObserver>>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProjection::Collecting {
                    collect,
                    parts,
                    inner,
                } => {
                    let collected = ready!(collect.as_mut().poll(cx));
                    let (Some(mut parts), Some(mut inner), Some(registry)) =
                        (parts.take(), inner.take(), this.registry.take())
                    else {
                        unreachable!("the collecting state is left once");
                    };
                    let (facts, body) = match collected {
                        Collected::Complete { bytes, body } => {
                            (RequestFacts::from_parts(&parts, bytes), body)
                        }
                        Collected::Incomplete { body, reason } => {
                            (RequestFacts::opaque(&parts, reason), body)
                        }
                    };
                    facts.insert_into(&mut parts.extensions);
                    *this.call = Some(CallStart::new(
                        registry,
                        facts.kind(),
                        facts.model(),
                        *this.started,
                    ));
                    let future = inner.call(Request::from_parts(parts, body));
                    this.state.set(State::Calling { future });
                }
                StateProjection::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    let call = this.call.take().expect("a call is started before calling");
                    return Poll::Ready(match result {
                        Ok(response) => Ok(observe(call, response)),
                        Err(error) => {
                            let error: BoxError = error.into();
                            call.failed(ErrorKind::from_error(&*error));
                            Err(error)
                        }
                    });
                }
            }
        }
    }
}

fn observe<ResBody>(
    call: CallStart,
    response: Response<ResBody>,
) -> Response<TapBody<ResBody, CallObserver>>
where
    ResBody: Body<Data = Bytes>,
{
    let status_error = ErrorKind::from_status(response.status());
    let cache = response
        .extensions()
        .get::<CacheStatus>()
        .map(|status| status.outcome);
    let sse = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    let observer = CallObserver::new(call, status_error, cache, sse);
    response.map(|body| TapBody::new(body, observer))
}
