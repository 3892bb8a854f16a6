//! Behaviours that need an upstream or a store the mock cannot play: an
//! upstream that forbids storing, and a store that fails.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{
    CacheConfig, CacheLayer, CacheStore, CachedResponse, StoreError, StoreFuture, StoreStats,
};
use llm_layers_core::body::ReplayBody;
use llm_layers_core::CanonicalKey;
use tower::{service_fn, Layer, ServiceExt};

const ANSWER: &str =
    r#"{"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;

fn upstream(
    extra_header: Option<(&'static str, &'static str)>,
    calls: Arc<std::sync::atomic::AtomicU64>,
) -> impl tower::Service<
    http::Request<ReplayBody<Full<Bytes>>>,
    Response = http::Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send {
    service_fn(move |_request: http::Request<ReplayBody<Full<Bytes>>>| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            let mut response =
                http::Response::new(Full::new(Bytes::from_static(ANSWER.as_bytes())));
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            if let Some((name, value)) = extra_header {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            Ok::<_, Infallible>(response)
        }
    })
}

fn request() -> http::Request<Full<Bytes>> {
    http::Request::post("https://api.openai.com/v1/chat/completions")
        .body(Full::new(Bytes::from_static(
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
        )))
        .unwrap()
}

/// `Cache-Control: no-store` from the upstream, and encoded bodies (which
/// answer an `Accept-Encoding` the key does not hold), are never stored.
#[tokio::test]
async fn answers_marked_no_store_or_content_encoded_are_not_stored() {
    for header in [("cache-control", "no-store"), ("content-encoding", "gzip")] {
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let layer = CacheLayer::default();
        let service = layer.layer(upstream(Some(header), calls.clone()));
        for _ in 0..2 {
            let response = service.clone().oneshot(request()).await.unwrap();
            assert_eq!(response.headers()["x-llm-cache"], "MISS", "{header:?}");
            response.into_body().collect().await.unwrap();
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(layer.stats().stores, 0);
    }
}

/// A store that always fails.
struct Broken;

fn broken<T: Send + 'static>() -> StoreFuture<'static, T> {
    Box::pin(async { Err(StoreError(Box::new(std::io::Error::other("disk on fire")))) })
}

impl CacheStore for Broken {
    fn get<'a>(&'a self, _: &'a CanonicalKey) -> StoreFuture<'a, Option<Arc<CachedResponse>>> {
        broken()
    }
    fn put(&self, _: CanonicalKey, _: Arc<CachedResponse>) -> StoreFuture<'_, ()> {
        broken()
    }
    fn remove<'a>(&'a self, _: &'a CanonicalKey) -> StoreFuture<'a, bool> {
        broken()
    }
    fn clear(&self) -> StoreFuture<'_, u64> {
        broken()
    }
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

#[tokio::test]
async fn a_failing_store_never_fails_a_request() {
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let layer = CacheLayer::with_store(CacheConfig::default(), Broken);
    let service = layer.layer(upstream(None, calls.clone()));
    for _ in 0..3 {
        let response = service.clone().oneshot(request()).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, ANSWER);
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    let stats = layer.stats();
    assert_eq!(
        stats.store_errors, 6,
        "three failed reads and three failed writes"
    );
    assert!(layer.clear().await.is_err());
}

#[test]
fn hits_misses_and_stores_reach_the_metrics_recorder() {
    let (_, seen) = llm_layers_mock::testing::recorded(|| async {
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let service = CacheLayer::default().layer(upstream(None, calls));
        for _ in 0..3 {
            let response = service.clone().oneshot(request()).await.unwrap();
            response.into_body().collect().await.unwrap();
        }
    });
    assert_eq!(
        seen.counter("llm_cache_lookups_total", &[("outcome", "miss")]),
        1
    );
    assert_eq!(
        seen.counter("llm_cache_lookups_total", &[("outcome", "hit")]),
        2
    );
    assert_eq!(seen.counter("llm_cache_stores_total", &[]), 1);
}
