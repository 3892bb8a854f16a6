//! The breaker service: asks the breaker of the call's origin and model
//! for admission, answers at once while it is open, and reports how each
//! admitted call ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::error::InspectError;
use llm_layers_core::provider_error::{json_error, MadeByLayer};
use llm_layers_core::ApiKind;
use tower::Service;

use super::body::BreakerBody;
use super::call::{error_outcome, status_fails, CallGuard};
use super::registry::{BreakerKey, Registry};
use super::state::{Admission, Outcome};
use super::CIRCUIT_HEADER;
use crate::call_facts::{call_facts, CallFacts};
use crate::refused::NotSent;
use crate::timeout::SilentUpstream;

/// Guards calls with circuit breakers; built by [`super::CircuitBreakerLayer`].
#[derive(Clone)]
pub struct CircuitBreaker<S> {
    pub(crate) inner: S,
    pub(crate) registry: Arc<Registry>,
}

crate::boxed::async_service!(CircuitBreaker, BreakerBody, guarded, registry, { S::Error: InspectError, });

crate::boxed::boxed_response_future!(BreakerBody, "CircuitBreaker");

async fn guarded<S, B, ResBody>(
    mut inner: S,
    request: Request<B>,
    registry: Arc<Registry>,
) -> Result<Response<BreakerBody<ResBody>>, S::Error>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>>,
    S::Error: InspectError,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body,
{
    let CallFacts {
        request,
        kind,
        model,
        ..
    } = call_facts(request, registry.policy.max_request_bytes).await;
    let key = BreakerKey {
        origin: origin(request.uri()),
        model,
    };
    let probe = match registry.admit(&key, Instant::now()) {
        Admission::Call => false,
        Admission::Probe => true,
        Admission::Rejected { retry_after } => {
            return Ok(open_answer(kind, retry_after).map(BreakerBody::own))
        }
    };
    let guard = CallGuard::new(registry, key, probe);
    match inner.call(request).await {
        Err(error) => {
            guard.finish(error_outcome(&error));
            Err(error)
        }
        Ok(response) if status_fails(response.status()) => {
            guard.finish(Outcome::Failure);
            Ok(response.map(|body| BreakerBody::upstream(body, None, None)))
        }
        Ok(response) => {
            // A timeout below may end the body cleanly, with an error event.
            let silent = response.extensions().get::<SilentUpstream>().cloned();
            Ok(response.map(|body| BreakerBody::upstream(body, Some(guard), silent)))
        }
    }
}

/// `scheme://authority` of a request's URI (empty for a relative one).
fn origin(uri: &http::Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        // Not `format!` (its machinery costs more than the copy): this
        // runs on every call.
        (Some(scheme), Some(authority)) => [scheme, "://", authority.as_str()].concat(),
        _ => String::new(),
    }
}

/// The answer while open: a 503 in the provider's error shape, saying
/// when to come back.
fn open_answer(kind: ApiKind, retry_after: Duration) -> Response<Bytes> {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let body = json_error(
        kind,
        503,
        "service_unavailable",
        "The upstream is failing; the circuit breaker is open. Retry later.",
    );
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    headers.insert(CIRCUIT_HEADER, HeaderValue::from_static("open"));
    response.extensions_mut().insert(MadeByLayer);
    response.extensions_mut().insert(NotSent);
    response
}
