//! The retry service: sends a request, and sends it again while its answer
//! is worth another attempt and the bounds allow.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use llm_layers_core::body::{collect_limited, Collected, ReplayBody};
use llm_layers_core::error::InspectError;
use llm_layers_core::facts::with_facts;
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Service, ServiceExt};

use super::again::Again;
use super::body::RetryBody;
use super::policy::RetryPolicy;
use super::verdict::{error_reason, is_permanent_rate_limit, status_reason, RetryReason};
use super::wait_hint::wait_hint;
use super::ATTEMPTS_HEADER;
use crate::refused::NotSent;
use crate::timeout::SilentUpstream;

/// [`ATTEMPTS_HEADER`] as a name made once, not parsed on every call.
const ATTEMPTS: HeaderName = HeaderName::from_static(ATTEMPTS_HEADER);

/// Retries calls through it; built by [`super::RetryLayer`].
#[derive(Clone)]
pub struct Retry<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

/// What every clone of a layer shares: the policy and the retry budget.
pub(crate) struct Shared {
    pub policy: RetryPolicy,
    pub budget: TpsBudget,
    /// `llm_call_attempts`, looked up at the first call, not on each.
    pub attempts: std::sync::OnceLock<metrics::Histogram>,
}

crate::boxed::async_service!(Retry, RetryBody, attempts, shared, { S::Error: InspectError, ResBody: http_body::Body<Data = Bytes> + Unpin, ResBody::Error: Send, });

type Answer<B, E> = Result<Response<RetryBody<B>>, E>;

crate::boxed::boxed_response_future!(RetryBody, "Retry");

/// One attempt's answer, examined.
enum Examined<B: Body, E> {
    /// The caller gets it.
    Final(Answer<B, E>),
    /// Another attempt may do better; the caller gets this one if none is made.
    Retryable {
        answer: Answer<B, E>,
        reason: RetryReason,
        wait_hint: Option<Duration>,
    },
}

/// Sends the request, and again while its answer is worth another attempt.
///
/// A function returning an `async move` block rather than an `async fn`,
/// and the answer examined in steps rather than by one `async fn`: an
/// `async fn` keeps each argument twice in its state, and this future is
/// boxed (copied whole) on every call.
fn attempts<S, B, ResBody>(
    mut inner: S,
    request: Request<B>,
    shared: Arc<Shared>,
) -> impl Future<Output = Answer<ResBody, S::Error>>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: InspectError,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body<Data = Bytes> + Unpin,
{
    let prepared = with_facts(request, shared.policy.max_request_bytes);
    async move {
        let policy = &shared.policy;
        // In a block of its own: a request moved into the call would
        // otherwise keep its place in this future's state.
        let (again, first) = {
            let request = prepared.await;
            let again = (policy.max_attempts > 1)
                .then(|| Again::of(&request))
                .flatten();
            shared.budget.deposit();
            (again, inner.call(request))
        };
        let mut result = first.await;
        let mut attempt = 1;
        let mut waited = Duration::ZERO;
        loop {
            let examined = match examine(result, policy) {
                Step::Examined(examined) => examined,
                Step::ReadError(error_answer) => Box::pin(error_answer.read(policy)).await,
                Step::FirstChunk(parts, body) => first_chunk(parts, body).await,
            };
            let (answer, reason, hint) = match examined {
                Examined::Final(answer) => return counted(answer, attempt, &shared),
                Examined::Retryable {
                    answer,
                    reason,
                    wait_hint,
                } => (answer, reason, wait_hint),
            };
            let wait = hint.unwrap_or_else(|| policy.backoff(attempt, fastrand::f64()));
            let given_up = if again.is_none() || attempt >= policy.max_attempts {
                Some("attempts")
            } else if waited + wait > policy.max_total_wait {
                Some("wait")
            } else if !shared.budget.withdraw() {
                Some("budget")
            } else {
                None
            };
            if let Some(why) = given_up {
                if again.is_some() {
                    metrics::counter!("llm_retries_given_up_total", "why" => why).increment(1);
                }
                return counted(answer, attempt, &shared);
            }
            metrics::counter!("llm_retries_total", "reason" => reason.as_str()).increment(1);
            // Let the failed attempt's connection go before waiting.
            drop(answer);
            tokio::time::sleep(wait).await;
            metrics::histogram!("llm_retry_wait_seconds").record(wait.as_secs_f64());
            waited += wait;
            attempt += 1;
            result = match inner.ready().await {
                Ok(ready) => {
                    ready
                        .call(again.as_ref().expect("retried with a copy").request())
                        .await
                }
                Err(error) => Err(error),
            };
        }
    }
}

/// The answer, telling how many attempts it took.
fn counted<B: Body, E>(answer: Answer<B, E>, attempts: u32, shared: &Shared) -> Answer<B, E> {
    shared
        .attempts
        .get_or_init(|| metrics::histogram!("llm_call_attempts"))
        .record(f64::from(attempts));
    answer.map(|mut response| {
        response
            .headers_mut()
            .insert(ATTEMPTS, HeaderValue::from(attempts));
        response
    })
}

/// What is known of an attempt's answer from its head, and what is left
/// to read before judging it.
enum Step<B: Body, E> {
    Examined(Examined<B, E>),
    /// A retryable status: its body says whether the limit is permanent.
    ReadError(ErrorAnswer<B>),
    /// A success held until its first chunk (see
    /// [`RetryPolicy::first_chunk_gate`]).
    FirstChunk(http::response::Parts, B),
}

/// An answer with a retryable status, its body not read yet.
struct ErrorAnswer<B> {
    parts: http::response::Parts,
    body: B,
    reason: RetryReason,
    hint: Option<Duration>,
}

/// Whether another attempt could do better than this one, as far as the
/// answer's head tells.
fn examine<B, E>(result: Result<Response<B>, E>, policy: &RetryPolicy) -> Step<B, E>
where
    B: Body<Data = Bytes> + Unpin,
    E: InspectError,
{
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            return Step::Examined(match error.as_std_error().and_then(error_reason) {
                Some(reason) => Examined::Retryable {
                    answer: Err(error),
                    reason,
                    wait_hint: None,
                },
                None => Examined::Final(Err(error)),
            })
        }
    };
    let status = response.status();
    // A call a layer below chose not to send (an open breaker, a spent
    // quota): that layer decides when to try again.
    let not_sent = response.extensions().get::<NotSent>().is_some();
    if let Some(reason) = status_reason(status).filter(|_| !not_sent) {
        let hint = wait_hint(response.headers(), status == 429, SystemTime::now());
        let (parts, body) = response.into_parts();
        return Step::ReadError(ErrorAnswer {
            parts,
            body,
            reason,
            hint,
        });
    }
    if !(policy.first_chunk_gate && status.is_success()) {
        return Step::Examined(Examined::Final(Ok(
            response.map(|body| RetryBody::gated(None, body))
        )));
    }
    let (parts, body) = response.into_parts();
    Step::FirstChunk(parts, body)
}

impl<B: Body<Data = Bytes> + Unpin> ErrorAnswer<B> {
    /// Reads the body (up to the policy's bound) to tell a permanent rate
    /// limit from one worth waiting for.
    async fn read<E>(self, policy: &RetryPolicy) -> Examined<B, E> {
        let ErrorAnswer {
            parts,
            body,
            reason,
            hint,
        } = self;
        let (body, permanent) = match collect_limited(body, policy.max_error_body_bytes).await {
            Collected::Complete { bytes, body } => (
                body,
                reason == RetryReason::RateLimited && is_permanent_rate_limit(&bytes),
            ),
            // Too large or failed: not judged, passed on as it is.
            Collected::Incomplete { body, .. } => (body, true),
        };
        let answer = Ok(Response::from_parts(parts, RetryBody::read(body)));
        match permanent {
            true => Examined::Final(answer),
            false => Examined::Retryable {
                answer,
                reason,
                wait_hint: hint,
            },
        }
    }
}

/// Holds a successful answer until its first chunk: a body that fails
/// before it can be asked for again, since nothing reached the caller.
/// (Not an `async fn`, which would keep its arguments twice in its state.)
#[allow(clippy::manual_async_fn)]
fn first_chunk<B, E>(
    parts: http::response::Parts,
    mut body: B,
) -> impl Future<Output = Examined<B, E>>
where
    B: Body<Data = Bytes> + Unpin,
{
    async move {
        let first = loop {
            match body.frame().await {
                Some(Ok(frame)) if frame.data_ref().is_some_and(Bytes::is_empty) => continue,
                Some(Ok(frame)) => break Some(frame),
                None => break None,
                Some(Err(error)) => {
                    // Nothing reached the caller yet: another attempt is safe.
                    return Examined::Retryable {
                        answer: Ok(Response::from_parts(parts, RetryBody::failed(error))),
                        reason: RetryReason::StreamFailed,
                        wait_hint: None,
                    };
                }
            }
        };
        // The upstream went silent and a timeout below answered for it: as
        // if the body had failed before its first byte.
        let silent = parts
            .extensions
            .get::<SilentUpstream>()
            .is_some_and(SilentUpstream::before_first_byte);
        let answer = Ok(Response::from_parts(parts, RetryBody::gated(first, body)));
        match silent {
            true => Examined::Retryable {
                answer,
                reason: RetryReason::Timeout,
                wait_hint: None,
            },
            false => Examined::Final(answer),
        }
    }
}
