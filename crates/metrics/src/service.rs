//! The metrics service: learns the request facts (from an earlier layer, or
//! by buffering the body once), then watches the response until its body
//! ends.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Body;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::body::TapBody;
use llm_layers_core::error::InspectError;
use llm_layers_core::facts::AroundCall;
use llm_layers_core::usage::ResponseUsage;
use llm_layers_core::{CacheStatus, RequestFacts};
use tower::Service;

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
    S::Error: InspectError,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let limit = self.registry.config().max_request_bytes;
        let call = MetricsCall {
            registry: self.registry.clone(),
            started,
            call: None,
        };
        ResponseFuture::call::<ResBody>(&mut self.inner, request, limit, call)
    }
}

llm_layers_core::around_layer_types!(
    call: MetricsCall,
    observer: CallObserver,
    error: S::Error,
    service: "Metrics"
);

/// One call's measurements, from its facts to its response.
pub(crate) struct MetricsCall {
    registry: Arc<Registry>,
    started: Instant,
    call: Option<CallStart>,
}

impl<B, ResBody, E> AroundCall<B, ResBody, E> for MetricsCall
where
    B: Body,
    ResBody: Body<Data = Bytes>,
    E: InspectError,
{
    type Output = Result<Response<TapBody<ResBody, CallObserver>>, E>;

    fn before(&mut self, request: Request<ReplayBody<B>>) -> Request<ReplayBody<B>> {
        let facts = RequestFacts::from_extensions(request.extensions());
        self.call = Some(CallStart::new(
            self.registry.clone(),
            facts.map_or(llm_layers_core::ApiKind::Unknown, RequestFacts::kind),
            facts.and_then(RequestFacts::model),
            self.started,
        ));
        request
    }

    fn after(self, result: Result<Response<ResBody>, E>) -> Self::Output {
        let call = self.call.expect("a call is started before calling");
        match result {
            Ok(response) => Ok(observe(call, response)),
            Err(error) => {
                call.failed(
                    error
                        .as_std_error()
                        .map_or(ErrorKind::Other, ErrorKind::from_error),
                );
                Err(error)
            }
        }
    }
}

/// The circuit breaker's header (`x-llm-circuit`), made once.
const CIRCUIT: http::HeaderName = http::HeaderName::from_static("x-llm-circuit");

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
    let mut observer = CallObserver::new(call, status_error, cache, reader);
    observer.circuit_open = response
        .headers()
        .get(CIRCUIT)
        .is_some_and(|state| state == "open");
    response.map(|body| TapBody::new(body, observer))
}
