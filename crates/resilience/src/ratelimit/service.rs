//! The rate-limit service: holds or refuses a call whose partition and
//! model have spent their quota, and learns from every answer.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{Either, Full};
use llm_layers_core::body::ReplayBody;
use llm_layers_core::provider_error::{json_error, MadeByLayer};
use llm_layers_core::ApiKind;
use tower::Service;

use super::policy::{RateLimitPolicy, WhenSpent};
use super::quota::spent_for;
use super::registry::{Finding, Partition, Registry};
use super::RATE_LIMIT_HEADER;
use crate::call_facts::{call_facts, CallFacts};
use crate::refused::NotSent;

/// Holds calls to a spent quota; built by [`super::RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub policy: RateLimitPolicy,
    pub registry: Registry,
}

/// The body of an answer through [`RateLimit`]: the upstream's, or the
/// layer's own 429.
pub type RateLimitBody<B> = Either<B, Full<Bytes>>;

crate::boxed::async_service!(RateLimit, RateLimitBody, held, shared, {});

crate::boxed::boxed_response_future!(RateLimitBody, "RateLimit");

async fn held<S, B, ResBody>(
    mut inner: S,
    request: Request<B>,
    shared: Arc<Shared>,
) -> Result<Response<RateLimitBody<ResBody>>, S::Error>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>>,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body,
{
    let policy = &shared.policy;
    let CallFacts {
        request,
        kind,
        model,
        credential,
    } = call_facts(request, policy.max_request_bytes).await;
    let partition: Partition = (credential, model);
    let may_wait = policy.when_spent == WhenSpent::Wait;
    match shared.registry.find(
        &partition,
        Instant::now(),
        policy.max_wait,
        policy.max_waiting,
        may_wait,
    ) {
        Finding::Free => {}
        Finding::Wait(left) => {
            metrics::counter!("llm_rate_limit_held_total", "outcome" => "waited").increment(1);
            // Counted out of the queue however the wait ends (a caller
            // hanging up drops this future mid-sleep).
            let _queued = Queued {
                registry: &shared.registry,
                partition: &partition,
            };
            tokio::time::sleep(left).await;
        }
        Finding::Refuse(left) => {
            metrics::counter!("llm_rate_limit_held_total", "outcome" => "refused").increment(1);
            return Ok(spent_answer(kind, left).map(Either::Right));
        }
    }
    let response = inner.call(request).await?;
    let spent = spent_for(response.headers(), SystemTime::now());
    shared
        .registry
        .learn(&partition, spent, Instant::now(), policy.max_partitions);
    Ok(response.map(Either::Left))
}

/// A place in a partition's queue, given back when dropped.
struct Queued<'a> {
    registry: &'a Registry,
    partition: &'a Partition,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.registry.done_waiting(self.partition);
    }
}

/// The answer to a call refused while the quota is spent: a 429 in the
/// provider's shape, with `retry-after` at the reset.
fn spent_answer(kind: ApiKind, left: Duration) -> Response<Full<Bytes>> {
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let body = json_error(
        kind,
        429,
        "rate_limit_error",
        "The provider's rate limit for this key and model is spent until its reset; not sent.",
    );
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    headers.insert(RATE_LIMIT_HEADER, HeaderValue::from_static("spent"));
    response.extensions_mut().insert(MadeByLayer);
    response.extensions_mut().insert(NotSent);
    response
}
