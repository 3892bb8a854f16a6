//! The metrics service: learns the request facts (from an earlier layer, or
//! by buffering the body once), then watches the response until its body
//! ends.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Body;
use llm_layers_core::buffer::ReplayBody;
use llm_layers_core::prepare::{with_facts, FactsFuture};
use llm_layers_core::tap::TapBody;
use llm_layers_core::usage_reader::ResponseUsage;
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
        let inner = std::mem::replace(&mut self.inner, clone);
        let limit = self.registry.config().max_request_bytes;
        ResponseFuture {
            state: State::Preparing {
                facts: with_facts(request, limit),
                inner: Some(inner),
            },
            call: None,
            registry: self.registry.clone(),
            started,
        }
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
        B: Body,
    {
        Preparing {
            facts: FactsFuture<B>,
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
        registry: Arc<Registry>,
        started: Instant,
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    B: Body + Unpin,
    ResBody: Body<Data = Bytes>,
{
    type Output = Result<Response<TapBody<ResBody, CallObserver>>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProjection::Preparing { facts, inner } => {
                    let request = ready!(Pin::new(facts).poll(cx));
                    let mut inner = inner.take().expect("the preparing state is left once");
                    let facts = RequestFacts::from_extensions(request.extensions());
                    *this.call = Some(CallStart::new(
                        this.registry.clone(),
                        facts.map_or(llm_layers_core::ApiKind::Unknown, RequestFacts::kind),
                        facts.and_then(RequestFacts::model),
                        *this.started,
                    ));
                    let future = inner.call(request);
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
    mut response: Response<ResBody>,
) -> Response<TapBody<ResBody, CallObserver>>
where
    ResBody: Body<Data = Bytes>,
{
    let status_error = ErrorKind::from_status(response.status());
    let cache = response
        .extensions()
        .get::<CacheStatus>()
        .map(|status| status.outcome);
    let json_limit = match status_error {
        Some(_) => 0,
        None => call.registry.config().max_response_bytes,
    };
    let reader = ResponseUsage::for_response(call.kind, &mut response, json_limit);
    let observer = CallObserver::new(call, status_error, cache, reader);
    response.map(|body| TapBody::new(body, observer))
}
