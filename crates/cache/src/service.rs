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
use llm_layers_core::buffer::ReplayBody;
use llm_layers_core::prepare::with_facts;
use llm_layers_core::usage_reader::ResponseUsage;
use llm_layers_core::{CacheOutcome, CacheStatus, CanonicalKey, RequestFacts};
use tower::Service;

use crate::body::{CacheBody, Pending, Recorder, Replay};
use crate::config::CacheConfig;
use crate::controls::CacheControls;
use crate::entry::{CachedBody, CachedResponse};
use crate::flight::{Flight, Flights, FollowerBody, Head, Publisher, Role};
use crate::headers::{storable as storable_headers, upstream_directives, CACHE_HEADER_NAME};
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

/// The response future of [`Cache`].
pub type ResponseFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for Cache<S>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tower::BoxError>,
{
    type Response = Response<CacheBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, S::Error>;

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
        Box::pin(async move {
            let request = with_facts(request, shared.config.max_request_bytes).await;
            let facts = RequestFacts::from_extensions(request.extensions()).cloned();
            let Some((facts, key)) =
                facts.and_then(|facts| shared.key(&facts, &controls).map(|key| (facts, key)))
            else {
                shared.counters.bypass();
                let response = inner.call(request).await?;
                return Ok(passthrough(response, CacheOutcome::Bypass, None));
            };
            let mode = shared.config.mode;
            if controls.reads(mode) {
                let found = match shared.store.get_now(&key) {
                    Some(found) => found,
                    None => shared.store.get(&key).await,
                };
                match found {
                    Ok(Some(entry)) if controls.max_age.is_none_or(|max| entry.age() <= max) => {
                        shared.counters.hit();
                        return Ok(hit(entry, key, shared.config.paced_replay));
                    }
                    Ok(_) => {}
                    Err(_) => shared.counters.store_error(),
                }
                if controls.only_if_cached {
                    shared.counters.miss();
                    return Ok(gateway_timeout(key));
                }
            }
            // Single flight: identical misses that would store their answer
            // share one upstream call.
            let mut leader = None;
            if controls.reads(mode) && controls.writes(mode) {
                match shared.flights.join(key) {
                    Role::Leader(handle) => leader = Some(handle),
                    Role::Follower(flight) => {
                        if let Some(head) = flight.head().await {
                            shared.counters.hit();
                            return Ok(follow(head, flight, key));
                        }
                    }
                }
            }
            let outcome = if !controls.writes(mode) && !controls.reads(mode) {
                shared.counters.bypass();
                CacheOutcome::Bypass
            } else if controls.no_cache {
                shared.counters.refresh();
                CacheOutcome::Refresh
            } else {
                shared.counters.miss();
                CacheOutcome::Miss
            };
            let response = inner.call(request).await?;
            if !controls.writes(mode) {
                return Ok(passthrough(response, outcome, Some(key)));
            }
            let directives = upstream_directives(response.headers());
            let refused = match () {
                _ if !response.status().is_success() => Some(Incomplete::Status),
                _ if directives.forbids => Some(Incomplete::Forbidden),
                _ => None,
            };
            if let Some(reason) = refused {
                shared.counters.not_stored(reason);
                return Ok(passthrough(response, outcome, Some(key)));
            }
            let ttl = shared
                .config
                .entry_ttl(facts.model(), controls.ttl, directives.max_age);
            let headers = storable_headers(response.headers());
            let publisher = leader.map(|handle| {
                handle.publish_head(Head {
                    status: response.status(),
                    headers: headers.clone(),
                })
            });
            let entry = CachedResponse {
                status: response.status(),
                headers,
                body: CachedBody::Whole(Bytes::new()),
                stored_at: SystemTime::now(),
                ttl,
            };
            Ok(record(
                response, &shared, &facts, key, entry, outcome, publisher,
            ))
        })
    }
}

impl Shared {
    /// The key for a cacheable request; `None` for requests the cache stays
    /// out of (unknown API, body not JSON, no model, `no-store`, mode off).
    fn key(&self, facts: &RequestFacts, controls: &CacheControls) -> Option<CanonicalKey> {
        let mode = self.config.mode;
        if !facts.is_understood() || !(controls.reads(mode) || controls.writes(mode)) {
            return None;
        }
        let key = if self.config.share_across_credentials {
            facts.key_without_credential()
        } else {
            facts.canonical_key()
        }?;
        let namespace = controls
            .namespace
            .as_deref()
            .or(self.config.namespace.as_deref());
        Some(match namespace {
            Some(namespace) => key.in_namespace(namespace),
            None => key,
        })
    }
}

fn mark<B>(
    response: &mut Response<B>,
    outcome: CacheOutcome,
    key: Option<CanonicalKey>,
    age: Option<Duration>,
) {
    let label = match outcome {
        CacheOutcome::Hit => "HIT",
        CacheOutcome::Miss => "MISS",
        CacheOutcome::Bypass => "BYPASS",
        CacheOutcome::Refresh => "REFRESH",
        CacheOutcome::Stale => "STALE",
        _ => "OTHER",
    };
    response
        .headers_mut()
        .insert(CACHE_HEADER_NAME, HeaderValue::from_static(label));
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
) -> Response<CacheBody<B>> {
    let mut response = response.map(|body| CacheBody::Passthrough { body });
    mark(&mut response, outcome, key, None);
    response
}

fn record<B: Body<Data = Bytes>>(
    mut response: Response<B>,
    shared: &Shared,
    facts: &RequestFacts,
    key: CanonicalKey,
    entry: CachedResponse,
    outcome: CacheOutcome,
    publisher: Option<Publisher>,
) -> Response<CacheBody<B>> {
    // A stream is parsed once: here, or by an inner layer that publishes it.
    let events = ResponseUsage::for_response(facts.kind(), &mut response, 0);
    let pending = Pending {
        store: shared.store.clone(),
        key,
        entry,
        counters: shared.counters.clone(),
        writes: shared.writes.clone(),
        max_entry_bytes: shared.config.max_entry_bytes,
        declared_length: declared_length(response.headers()),
    };
    let recorder = Recorder::new(pending, publisher, events);
    let mut response = response.map(|body| CacheBody::Recorded {
        body: llm_layers_core::tap::TapBody::new(body, recorder),
    });
    mark(&mut response, outcome, Some(key), None);
    response
}

/// A follower's answer: the leader's head, then its chunks as they come.
fn follow<B: Body>(head: Head, flight: Arc<Flight>, key: CanonicalKey) -> Response<CacheBody<B>> {
    let mut response = Response::new(CacheBody::Follower {
        follower: FollowerBody::new(flight),
    });
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

fn hit<B: Body>(
    entry: Arc<CachedResponse>,
    key: CanonicalKey,
    paced: bool,
) -> Response<CacheBody<B>> {
    let mut response = Response::new(CacheBody::Replay {
        replay: Replay::new(entry.clone(), paced),
    });
    *response.status_mut() = entry.status;
    *response.headers_mut() = entry.header_map();
    mark(
        &mut response,
        CacheOutcome::Hit,
        Some(key),
        Some(entry.age()),
    );
    response
}

/// `only-if-cached` and nothing cached: 504, as HTTP caches answer.
fn gateway_timeout<B: Body>(key: CanonicalKey) -> Response<CacheBody<B>> {
    let body = br#"{"error":{"message":"not in the cache, and the request said only-if-cached","type":"cache_miss","code":"only_if_cached"}}"#;
    let entry = Arc::new(CachedResponse {
        status: StatusCode::GATEWAY_TIMEOUT,
        headers: vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body: CachedBody::Whole(Bytes::from_static(body)),
        stored_at: SystemTime::now(),
        ttl: Duration::ZERO,
    });
    let mut response = Response::new(CacheBody::Replay {
        replay: Replay::new(entry, false),
    });
    *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    mark(&mut response, CacheOutcome::Miss, Some(key), None);
    response
}
