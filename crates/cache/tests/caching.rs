//! The cache layer over the real connector and the mock on loopback; the
//! mock's request counter tells what reached the upstream.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{
    Cache, CacheConfig, CacheControls, CacheLayer, CacheMode, MemoryBounds, MemoryStore,
};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::{CacheOutcome, CacheStatus};
use llm_layers_mock::{MockConfig, MockServer};
use serde_json::json;
use tower::{Layer, ServiceExt};

type Connector = HyperConnector<ReplayBody<Full<Bytes>>>;
type Client = Cache<Connector>;

struct Answer {
    status: http::StatusCode,
    headers: http::HeaderMap,
    status_ext: Option<CacheStatus>,
    body: Bytes,
}

impl Answer {
    fn cache(&self) -> &str {
        self.headers
            .get("x-llm-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn client(layer: &CacheLayer) -> Client {
    layer.layer(HyperConnector::builder().build().unwrap())
}

fn chat(stream: bool, text: &str) -> String {
    json!({
        "model": "gpt-4o", "stream": stream, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": text}]
    })
    .to_string()
}

async fn send(
    client: &Client,
    mock: &MockServer,
    headers: &[(&str, &str)],
    body: String,
) -> Answer {
    let mut builder = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-tenant-a");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::from(body))).unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let status_ext = response.extensions().get::<CacheStatus>().cloned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        status_ext,
        body,
    }
}

fn upstream_calls(mock: &MockServer) -> u64 {
    mock.stats().requests_to("/v1/chat/completions")
}

#[tokio::test]
async fn a_repeat_is_a_hit_with_the_same_body_and_no_upstream_call() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let first = send(&client, &mock, &[], chat(false, "hi")).await;
    assert_eq!(first.cache(), "MISS");
    assert_eq!(
        first.status_ext.as_ref().unwrap().outcome,
        CacheOutcome::Miss
    );
    let second = send(&client, &mock, &[], chat(false, "hi")).await;
    assert_eq!(second.cache(), "HIT");
    assert_eq!(second.body, first.body);
    assert_eq!(second.status, 200);
    assert_eq!(second.headers["content-type"], "application/json");
    assert!(second.headers.contains_key("age"));
    for per_call in [
        "set-cookie",
        "x-request-id",
        "x-ratelimit-remaining-requests",
    ] {
        assert!(
            !second.headers.contains_key(per_call),
            "{per_call} must not be replayed"
        );
    }
    for per_call in ["x-request-id", "x-ratelimit-remaining-requests"] {
        assert!(
            first.headers.contains_key(per_call),
            "the caller who made the call gets the upstream's {per_call}"
        );
    }
    // ... and its length, as a call passed through would: not re-framed.
    assert_eq!(
        first.headers["content-length"],
        first.body.len().to_string().as_str()
    );
    assert_eq!(
        second.status_ext.unwrap().key,
        first.status_ext.unwrap().key
    );
    assert_eq!(upstream_calls(&mock), 1);
    let stats = layer.stats();
    assert_eq!((stats.hits, stats.misses, stats.stores), (1, 1, 1));
    assert_eq!(stats.store.entries, 1);
}

#[tokio::test]
async fn two_credentials_never_share_unless_asked_to() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let client = client(&CacheLayer::default());
    send(&client, &mock, &[], chat(false, "hi")).await;
    let other = send(
        &client,
        &mock,
        &[("authorization", "Bearer sk-tenant-b")],
        chat(false, "hi"),
    )
    .await;
    assert_eq!(other.cache(), "MISS");
    assert_eq!(upstream_calls(&mock), 2);

    let shared = client_sharing();
    send(&shared, &mock, &[], chat(false, "shared")).await;
    let other = send(
        &shared,
        &mock,
        &[("authorization", "Bearer sk-tenant-b")],
        chat(false, "shared"),
    )
    .await;
    assert_eq!(other.cache(), "HIT");
}

fn client_sharing() -> Client {
    client(&CacheLayer::new(
        CacheConfig::default().share_across_credentials(true),
    ))
}

#[tokio::test]
async fn a_streamed_hit_replays_the_original_stream_byte_for_byte() {
    let mock = MockServer::start(MockConfig::default().chunk_delay(Duration::from_millis(2)))
        .await
        .unwrap();
    let client = client(&CacheLayer::default());
    let first = send(&client, &mock, &[], chat(true, "stream me")).await;
    assert_eq!(first.cache(), "MISS");
    let second = send(&client, &mock, &[], chat(true, "stream me")).await;
    assert_eq!(second.cache(), "HIT");
    assert_eq!(second.body, first.body);
    assert!(second.body.ends_with(b"data: [DONE]\n\n"));
    assert_eq!(
        second.headers["content-type"],
        "text/event-stream; charset=utf-8"
    );
    // A plain request with the same messages is another entry.
    let plain = send(&client, &mock, &[], chat(false, "stream me")).await;
    assert_eq!(plain.cache(), "MISS");
    assert_eq!(upstream_calls(&mock), 2);
}

#[tokio::test]
async fn cut_streams_and_errors_are_never_stored() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let request = |fault: &str| {
        http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
            .header("x-mock-fault", fault)
            .body(Full::new(Bytes::from(chat(true, "fragile"))))
            .unwrap()
    };
    // Cut mid-way.
    let response = client.clone().oneshot(request("cut")).await.unwrap();
    assert!(response.into_body().collect().await.is_err());
    // (A caller that goes away no longer ends the call: see
    // tests/single_flight.rs.)
    // A 429.
    let limited = send(
        &client,
        &mock,
        &[("x-mock-fault", "429")],
        chat(true, "fragile"),
    )
    .await;
    assert_eq!(limited.status, 429);
    // Nothing was stored: the next call goes upstream.
    let next = send(&client, &mock, &[], chat(true, "fragile")).await;
    assert_eq!(next.cache(), "MISS");
    let stats = layer.stats();
    assert_eq!(stats.stores, 1, "only the complete answer");
    assert_eq!(stats.not_stored_incomplete, 1);
    assert_eq!(stats.not_stored.get("body_error"), Some(&1));
    assert_eq!(stats.not_stored.get("status"), Some(&1));
}

#[tokio::test]
async fn malformed_and_unknown_requests_pass_through_uncached() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    for _ in 0..2 {
        let bad = send(&client, &mock, &[], "{not json".into()).await;
        assert_eq!(bad.status, 400);
        assert_eq!(bad.cache(), "BYPASS");
    }
    assert_eq!(upstream_calls(&mock), 2);
    assert_eq!(mock.recent_requests().last().unwrap().body, "{not json");
    assert_eq!(layer.stats().store.entries, 0);
}

#[tokio::test]
async fn request_controls_and_modes() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let body = || chat(false, "controls");
    // only-if-cached on a miss: 504 without calling upstream.
    let miss = send(
        &client,
        &mock,
        &[("cache-control", "only-if-cached")],
        body(),
    )
    .await;
    assert_eq!(miss.status, 504);
    assert_eq!(upstream_calls(&mock), 0);
    // no-store: neither read nor written.
    assert_eq!(
        send(&client, &mock, &[("cache-control", "no-store")], body())
            .await
            .cache(),
        "BYPASS"
    );
    assert_eq!(send(&client, &mock, &[], body()).await.cache(), "MISS");
    assert_eq!(send(&client, &mock, &[], body()).await.cache(), "HIT");
    // no-cache: skip the read, refresh the entry.
    assert_eq!(
        send(&client, &mock, &[("cache-control", "no-cache")], body())
            .await
            .cache(),
        "REFRESH"
    );
    // max-age=0 refuses an entry older than 0 s once a second has passed.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        send(&client, &mock, &[("cache-control", "max-age=0")], body())
            .await
            .cache(),
        "MISS"
    );
    assert_eq!(
        send(
            &client,
            &mock,
            &[("cache-control", "only-if-cached")],
            body()
        )
        .await
        .cache(),
        "HIT"
    );
    // Modes by header: off bypasses, read-only answers but never stores.
    assert_eq!(
        send(&client, &mock, &[("x-llm-cache-mode", "off")], body())
            .await
            .cache(),
        "BYPASS"
    );
    let fresh = chat(false, "read-only");
    assert_eq!(
        send(
            &client,
            &mock,
            &[("x-llm-cache-mode", "read-only")],
            fresh.clone()
        )
        .await
        .cache(),
        "MISS"
    );
    assert_eq!(
        send(&client, &mock, &[("x-llm-cache-mode", "read-only")], fresh)
            .await
            .cache(),
        "MISS"
    );
}

#[tokio::test]
async fn the_mode_can_come_from_configuration_or_an_extension() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CacheLayer::new(CacheConfig::default().mode(CacheMode::Off));
    let client = client(&layer);
    assert_eq!(
        send(&client, &mock, &[], chat(false, "m")).await.cache(),
        "BYPASS"
    );
    let mut request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .body(Full::new(Bytes::from(chat(false, "m"))))
        .unwrap();
    request.extensions_mut().insert(CacheControls {
        mode: Some(CacheMode::On),
        ..CacheControls::default()
    });
    let response = client.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-llm-cache"], "MISS");
    response.into_body().collect().await.unwrap();
}

#[tokio::test]
async fn namespaces_separate_applications() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let client = client(&CacheLayer::default());
    send(
        &client,
        &mock,
        &[("x-llm-cache-namespace", "app-a")],
        chat(false, "ns"),
    )
    .await;
    let b = send(
        &client,
        &mock,
        &[("x-llm-cache-namespace", "app-b")],
        chat(false, "ns"),
    )
    .await;
    assert_eq!(b.cache(), "MISS");
    let a = send(
        &client,
        &mock,
        &[("x-llm-cache-namespace", "app-a")],
        chat(false, "ns"),
    )
    .await;
    assert_eq!(a.cache(), "HIT");
}

#[tokio::test]
async fn entries_expire_at_their_ttl() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let client = client(&CacheLayer::new(
        CacheConfig::default()
            .model_ttls(vec![("gpt-4*".into(), Duration::from_millis(300))])
            .max_request_ttl(Some(Duration::from_secs(60))),
    ));
    send(&client, &mock, &[], chat(false, "ttl")).await;
    assert_eq!(
        send(&client, &mock, &[], chat(false, "ttl")).await.cache(),
        "HIT"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        send(&client, &mock, &[], chat(false, "ttl")).await.cache(),
        "MISS"
    );
    // The per-request TTL header overrides the model's, up to the maximum.
    send(
        &client,
        &mock,
        &[("x-llm-cache-ttl", "60")],
        chat(false, "ttl-header"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        send(&client, &mock, &[], chat(false, "ttl-header"))
            .await
            .cache(),
        "HIT"
    );
}

#[tokio::test]
async fn the_byte_bound_is_respected_and_large_entries_are_not_stored() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let store = MemoryStore::new(
        MemoryBounds::default()
            .max_bytes(8 * 1024)
            .max_entries(1000),
    );
    let layer = CacheLayer::with_store(
        CacheConfig::default().max_entry_bytes(4 * 1024),
        store.clone(),
    );
    let client = client(&layer);
    for i in 0..40 {
        send(&client, &mock, &[], chat(false, &format!("bounded {i}"))).await;
    }
    store.run_pending_tasks();
    let stats = layer.stats();
    assert!(stats.store.bytes <= 8 * 1024, "{stats:?}");
    assert!(stats.store.evicted_size > 0, "{stats:?}");
    assert_eq!(stats.stores + stats.store_refused, 40, "{stats:?}");
    assert!(
        stats.stores >= stats.store.entries,
        "only admitted entries count as stored: {stats:?}"
    );
}

#[tokio::test]
async fn an_entry_larger_than_the_store_is_refused_not_counted_as_stored() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let store = MemoryStore::new(MemoryBounds::default().max_bytes(64).max_entries(10));
    let layer = CacheLayer::with_store(CacheConfig::default(), store);
    let client = client(&layer);
    let first = send(&client, &mock, &[], chat(false, "too big for the store")).await;
    assert!(first.body.len() > 64);
    let again = send(&client, &mock, &[], chat(false, "too big for the store")).await;
    assert_eq!(again.cache(), "MISS");
    let stats = layer.stats();
    assert_eq!((stats.stores, stats.store_refused), (0, 2), "{stats:?}");
    assert_eq!(stats.store.entries, 0);
}

#[tokio::test]
async fn answers_over_the_entry_limit_are_not_stored() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CacheLayer::new(CacheConfig::default().max_entry_bytes(1024));
    let client = client(&layer);
    let first = send(&client, &mock, &[], chat(true, "long")).await;
    assert!(
        first.body.len() > 1024,
        "a streamed answer is several kilobytes"
    );
    assert_eq!(
        send(&client, &mock, &[], chat(true, "long")).await.cache(),
        "MISS"
    );
    let small = send(&client, &mock, &[], chat(false, "short")).await;
    assert!(small.body.len() < 1024);
    assert_eq!(
        send(&client, &mock, &[], chat(false, "short"))
            .await
            .cache(),
        "HIT"
    );
    assert_eq!(layer.stats().not_stored_incomplete, 2);
}

#[tokio::test]
async fn clear_and_remove() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let first = send(&client, &mock, &[], chat(false, "one")).await;
    send(&client, &mock, &[], chat(false, "two")).await;
    let key = first.status_ext.unwrap().key.unwrap();
    assert!(layer.remove(&key).await.unwrap());
    assert_eq!(
        send(&client, &mock, &[], chat(false, "one")).await.cache(),
        "MISS"
    );
    assert_eq!(layer.clear().await.unwrap(), 2);
    assert_eq!(
        send(&client, &mock, &[], chat(false, "two")).await.cache(),
        "MISS"
    );
}

#[tokio::test]
async fn streamed_hits_replay_at_once_or_at_the_recorded_pace() {
    let mock = MockServer::start(MockConfig::default().chunk_delay(Duration::from_millis(20)))
        .await
        .unwrap();
    let immediate = client(&CacheLayer::default());
    let paced = client(&CacheLayer::new(CacheConfig::default().paced_replay(true)));
    for client in [&immediate, &paced] {
        let started = std::time::Instant::now();
        let original = send(client, &mock, &[], chat(true, "pace")).await;
        let recorded_time = started.elapsed();
        let started = std::time::Instant::now();
        let replay = send(client, &mock, &[], chat(true, "pace")).await;
        let replay_time = started.elapsed();
        assert_eq!(replay.cache(), "HIT");
        assert_eq!(replay.body, original.body);
        if std::ptr::eq(client, &paced) {
            assert!(
                replay_time >= recorded_time / 2,
                "{replay_time:?} vs {recorded_time:?}"
            );
        } else {
            assert!(
                replay_time < recorded_time / 4,
                "{replay_time:?} vs {recorded_time:?}"
            );
        }
    }
}
