//! The cache service: decides, per request, whether to answer from the
//! store, and records the upstream's answer on a miss.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::facts::with_facts;
use llm_layers_core::usage::{PublishedUsage, ResponseUsage};
use llm_layers_core::{ApiKind, CacheOutcome, CacheStatus, CanonicalKey, RequestFacts};
use tower::Service;

use crate::body::ResponseBody;
use crate::config::CacheConfig;
use crate::controls::CacheControls;
use crate::drive::{drive, Driving};
use crate::entry::{CachedBody, CachedResponse};
use crate::flight::{Flight, Flights, FollowerBody, Head, LeaderHandle, Role};
use crate::headers::{storable as storable_headers, upstream_directives, CACHE_HEADER_NAME};
use crate::plan::plan;
use crate::recorder::{Pending, Recorder};
use crate::replay::Replay;
use crate::stats::CacheCounters;
use crate::store::CacheStore;
use llm_layers_core::completeness::{declared_length, Incomplete};

/// What a cache layer and its services share.
pub(crate) struct Shared {
    pub config: CacheConfig,
    pub store: Arc<dyn CacheStore>,
    pub counters: Arc<CacheCounters>,
    pub flights: Arc<Flights>,
    pub writes: Arc<crate::writes::PendingWrites>,
}

/// Answers repeated requests from the store; built by [`crate::CacheLayer`].
#[derive(Clone)]
pub struct Cache<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

/// What a [`Cache`] call answers.
type Answer<B, E> = Result<Response<ResponseBody<B>>, E>;

/// The response future of [`Cache`].
pub struct ResponseFuture<B: Body, E> {
    inner: Pin<Box<dyn Future<Output = Answer<B, E>> + Send>>,
}

impl<B: Body, E> Future for ResponseFuture<B, E> {
    type Output = Answer<B, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<S, B, ResBody> Service<Request<B>> for Cache<S>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tower::BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let controls = CacheControls::take_from_headers(request.headers_mut())
            .overridden_by(request.extensions().get::<CacheControls>());
        // The ready service goes into the future; a clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let inner = Box::pin(async move {
            let request = with_facts(request, shared.config.max_request_bytes).await;
            let facts = RequestFacts::from_extensions(request.extensions()).cloned();
            let (Some(plan), Some(facts)) =
                (plan(&shared.config, &controls, facts.as_ref()), facts)
            else {
                shared.counters.bypass();
                let response = inner.call(request).await?;
                return Ok(passthrough(response, CacheOutcome::Bypass, None));
            };
            let key = plan.key;
            if plan.read {
                let found = match shared.store.get_now(&key) {
                    Some(found) => found,
                    None => shared.store.get(&key).await,
                };
                match found {
                    Ok(Some(entry)) => {
                        // One clock reading serves the check and the `age` header.
                        let age = entry.age();
                        if plan.serves(age) {
                            shared.counters.hit();
                            let paced = shared.config.paced_replay;
                            return Ok(hit(entry, age, key, paced, facts.kind()));
                        }
                    }
                    Ok(None) => {}
                    Err(_) => shared.counters.store_error(),
                }
                if plan.only_if_cached {
                    shared.counters.miss();
                    return Ok(gateway_timeout(key));
                }
            }
            // Single flight: identical misses that would store their answer
            // share one upstream call, which belongs to the flight.
            let mut leader = None;
            if plan.share {
                match shared.flights.join(key) {
                    Role::Leader(handle) => leader = Some(handle),
                    Role::Follower(flight) => {
                        // A reader from the moment it joins: no chunk is let
                        // go before it has read it.
                        let reader = FollowerBody::new(flight.clone());
                        if let Some(head) = flight.head().await {
                            shared.counters.hit();
                            return Ok(from_flight(head, reader, key));
                        }
                        // The leader shared nothing: it may have found the
                        // answer another process stored. Look once more.
                        if let Ok(Some(entry)) = shared.store.get(&key).await {
                            shared.counters.hit();
                            let age = entry.age();
                            let paced = shared.config.paced_replay;
                            return Ok(hit(entry, age, key, paced, facts.kind()));
                        }
                    }
                }
            }
            let outcome = plan.miss;
            let kind = facts.kind();
            let runtime = leader
                .as_ref()
                .and_then(|_| tokio::runtime::Handle::try_current().ok());
            if let (Some(runtime), Some(handle)) = (runtime, leader.take()) {
                let (answer, mut led) = tokio::sync::oneshot::channel();
                // The call is made once no other process answers for it.
                let call = move || inner.call(request);
                let ttl = plan.requested_ttl;
                let task_shared = shared.clone();
                let mut driving = Driving::new(
                    async move {
                        drive(call, handle, &task_shared, &facts, key, ttl, answer).await;
                    },
                    runtime,
                );
                // This task polls the call until its head is known; if it
                // goes away first, the call goes on on a task of its own.
                let led = std::future::poll_fn(|cx| {
                    let _ = driving.poll(cx);
                    Pin::new(&mut led).poll(cx)
                })
                .await;
                match &led {
                    Ok(Led::Found(_)) => shared.counters.hit(),
                    _ => shared.counters.missed(outcome),
                }
                return Ok(match led {
                    Ok(Led::Own(response)) => passthrough(response?, outcome, Some(key)),
                    Ok(Led::Shared { parts, mut reader }) => {
                        reader.lead(driving);
                        let body = ResponseBody::follower(reader);
                        let mut response = Response::from_parts(parts, body);
                        mark(&mut response, outcome, Some(key), None);
                        response
                    }
                    Ok(Led::Found(entry)) => {
                        let age = entry.age();
                        hit(entry, age, key, shared.config.paced_replay, kind)
                    }
                    Err(_) => flight_lost(key),
                });
            }
            shared.counters.missed(outcome);
            let mut response = inner.call(request).await?;
            if !plan.write {
                return Ok(passthrough(response, outcome, Some(key)));
            }
            let (recorder, _) = match shared.storing(&facts, key, plan.requested_ttl, &mut response)
            {
                Ok(storing) => storing.recorder(leader),
                Err(reason) => {
                    shared.counters.not_stored(reason);
                    return Ok(passthrough(response, outcome, Some(key)));
                }
            };
            let mut response = response.map(|body| {
                ResponseBody::recorded(llm_layers_core::body::TapBody::new(body, recorder))
            });
            mark(&mut response, outcome, Some(key), None);
            Ok(response)
        });
        ResponseFuture { inner }
    }
}

/// What the flight's task tells the leader.
pub(crate) enum Led<B, E> {
    /// The answer is not shared (an error, or an answer not to be stored):
    /// the leader's alone.
    Own(Result<Response<B>, E>),
    /// The answer is shared: the upstream response's head, and the
    /// leader's reader.
    Shared {
        parts: http::response::Parts,
        reader: FollowerBody,
    },
    /// Another process stored the answer while this one waited for it.
    Found(Arc<CachedResponse>),
}

/// Everything needed to record an answer that may be stored.
pub(crate) struct Storing {
    pending: Pending,
    head: Head,
    events: ResponseUsage,
}

impl Storing {
    /// What would be stored, for an answer already whole.
    pub(crate) fn into_pending(self) -> Pending {
        self.pending
    }

    /// Holds other processes' wait until the answer is stored.
    pub(crate) fn with_lease(mut self, lease: Option<crate::store::Lease>) -> Storing {
        self.pending.lease = lease;
        self
    }

    /// The recorder; with a leader's handle, it also publishes to the
    /// flight, returned too.
    pub(crate) fn recorder(self, leader: Option<LeaderHandle>) -> (Recorder, Option<Arc<Flight>>) {
        let publisher = leader.map(|handle| handle.publish_head(self.head));
        let flight = publisher
            .as_ref()
            .and_then(|publisher| publisher.flight().cloned());
        (Recorder::new(self.pending, publisher, self.events), flight)
    }
}

impl Shared {
    /// Whether a miss's answer may be stored, judged by its head (2xx, no
    /// `no-store`/`private`); if so, what recording it takes. A stream's
    /// usage reader is set up here, published in the response for the
    /// layers outside.
    pub(crate) fn storing<B>(
        &self,
        facts: &RequestFacts,
        key: CanonicalKey,
        requested_ttl: Option<Duration>,
        response: &mut Response<B>,
    ) -> Result<Storing, Incomplete> {
        let directives = upstream_directives(response.headers());
        if !response.status().is_success() {
            return Err(Incomplete::Status);
        }
        if directives.forbids {
            return Err(Incomplete::Forbidden);
        }
        let ttl = self
            .config
            .entry_ttl(facts.model(), requested_ttl, directives.max_age);
        let headers = storable_headers(response.headers());
        let head = Head {
            status: response.status(),
            headers: headers.clone(),
        };
        // An answer is read once: a stream here or by an inner layer that
        // publishes it; a plain body of a declared length here, with the
        // check that it is whole.
        let events =
            ResponseUsage::for_kept_response(facts.kind(), response, self.config.max_entry_bytes);
        let pending = Pending {
            store: self.store.clone(),
            key,
            entry: CachedResponse {
                status: response.status(),
                headers,
                body: CachedBody::Whole(Bytes::new()),
                stored_at: SystemTime::now(),
                ttl,
                usage: Default::default(),
            },
            counters: self.counters.clone(),
            writes: self.writes.clone(),
            max_entry_bytes: self.config.max_entry_bytes,
            declared_length: declared_length(response.headers()),
            lease: None,
        };
        Ok(Storing {
            pending,
            head,
            events,
        })
    }
}

fn mark<B>(
    response: &mut Response<B>,
    outcome: CacheOutcome,
    key: Option<CanonicalKey>,
    age: Option<Duration>,
) {
    response.headers_mut().insert(
        CACHE_HEADER_NAME,
        HeaderValue::from_static(outcome.header_value()),
    );
    if let Some(age) = age {
        response
            .headers_mut()
            .insert(header::AGE, HeaderValue::from(age.as_secs()));
    }
    response
        .extensions_mut()
        .insert(CacheStatus { outcome, key, age });
}

fn passthrough<B: Body>(
    response: Response<B>,
    outcome: CacheOutcome,
    key: Option<CanonicalKey>,
) -> Response<ResponseBody<B>> {
    let mut response = response.map(ResponseBody::passthrough);
    mark(&mut response, outcome, key, None);
    response
}

/// A follower's answer: a hit read from the flight, with the leader's
/// head.
fn from_flight<B: Body>(
    head: Head,
    reader: FollowerBody,
    key: CanonicalKey,
) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::follower(reader));
    *response.status_mut() = head.status;
    for (name, value) in head.headers {
        response.headers_mut().append(name, value);
    }
    mark(
        &mut response,
        CacheOutcome::Hit,
        Some(key),
        Some(Duration::ZERO),
    );
    response
}

/// The flight's task ended without a word (it panicked): 502, in OpenAI's
/// error shape.
fn flight_lost<B: Body>(key: CanonicalKey) -> Response<ResponseBody<B>> {
    error_answer(
        StatusCode::BAD_GATEWAY,
        br#"{"error":{"message":"the upstream call ended without an answer","type":"cache_error","code":"flight_lost"}}"#,
        key,
    )
}

fn hit<B: Body>(
    entry: Arc<CachedResponse>,
    age: Duration,
    key: CanonicalKey,
    paced: bool,
    kind: ApiKind,
) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::replay(Replay::new(entry.clone(), paced)));
    *response.status_mut() = entry.status;
    *response.headers_mut() = entry.header_map();
    // A whole answer's usage, read once per entry: the layers outside
    // take it from here instead of reading the body on every hit.
    if let Some(usage) = entry.usage(kind) {
        let published = PublishedUsage::new();
        published.publish(usage);
        response.extensions_mut().insert(published);
    }
    mark(&mut response, CacheOutcome::Hit, Some(key), Some(age));
    response
}

/// `only-if-cached` and nothing cached: 504, as HTTP caches answer.
fn gateway_timeout<B: Body>(key: CanonicalKey) -> Response<ResponseBody<B>> {
    error_answer(
        StatusCode::GATEWAY_TIMEOUT,
        br#"{"error":{"message":"not in the cache, and the request said only-if-cached","type":"cache_miss","code":"only_if_cached"}}"#,
        key,
    )
}

/// An error the layer answers itself, as JSON.
fn error_answer<B: Body>(
    status: StatusCode,
    body: &'static [u8],
    key: CanonicalKey,
) -> Response<ResponseBody<B>> {
    let entry = Arc::new(CachedResponse {
        status,
        headers: vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body: CachedBody::Whole(Bytes::from_static(body)),
        stored_at: SystemTime::now(),
        ttl: Duration::ZERO,
        usage: Default::default(),
    });
    let mut response = Response::new(ResponseBody::replay(Replay::new(entry, false)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    mark(&mut response, CacheOutcome::Miss, Some(key), None);
    response
}
