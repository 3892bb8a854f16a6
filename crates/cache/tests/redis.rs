//! The Redis store against a real `redis-server` (started per test on a
//! free port): entries shared by several caches as by several processes,
//! one upstream call for identical misses across them, the credential
//! partition, corrupt values, and a Redis that dies and comes back.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{
    CacheConfig, CacheLayer, CacheStore, CachedBody, CachedResponse, MemoryStore, RedisConfig,
    RedisStore, TieredStore, TimedChunk,
};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::{CacheStatus, CanonicalKey};
use llm_layers_mock::testing::RedisServer;
use llm_layers_mock::{MockConfig, MockServer};
use tower::{Layer, ServiceExt};

/// A cache layer as one process would have it, on the shared Redis.
fn process(redis: &RedisServer) -> CacheLayer {
    CacheLayer::with_store(CacheConfig::default(), store(redis, RedisConfig::default()))
}

fn store(redis: &RedisServer, config: RedisConfig) -> RedisStore {
    // Loopback on a loaded machine: generous, and still fail-open.
    RedisStore::connect(
        config
            .url(redis.url())
            .operation_timeout(Duration::from_millis(500)),
    )
    .unwrap()
}

struct Answer {
    status: u16,
    outcome: String,
    key: Option<CanonicalKey>,
    body: Bytes,
}

async fn ask(layer: &CacheLayer, mock: &MockServer, text: &str, api_key: &str) -> Answer {
    ask_with(layer, mock, text, api_key, &[]).await
}

async fn ask_with(
    layer: &CacheLayer,
    mock: &MockServer,
    text: &str,
    api_key: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let client = layer.layer(
        HyperConnector::builder()
            .build::<ReplayBody<Full<Bytes>>>()
            .unwrap(),
    );
    let body = serde_json::json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": text}]});
    let mut request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", format!("Bearer {api_key}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let outcome = response.headers()["x-llm-cache"]
        .to_str()
        .unwrap()
        .to_owned();
    let key = response
        .extensions()
        .get::<CacheStatus>()
        .and_then(|status| status.key);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        outcome,
        key,
        body,
    }
}

fn entry_name(key: &CanonicalKey) -> String {
    format!("llm-layers:default:entry:{{{}}}", key.to_hex())
}

fn stream_entry(ttl: Duration) -> Arc<CachedResponse> {
    Arc::new(CachedResponse {
        status: http::StatusCode::OK,
        headers: vec![(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        )],
        body: CachedBody::Chunks(vec![
            TimedChunk {
                offset: Duration::ZERO,
                bytes: Bytes::from_static(b"data: {\"a\":1}\n\n"),
            },
            TimedChunk {
                offset: Duration::from_millis(12),
                bytes: Bytes::from_static(b"data: [DONE]\n\n"),
            },
        ]),
        stored_at: SystemTime::now(),
        ttl,
        usage: Default::default(),
    })
}

#[tokio::test]
async fn entries_round_trip_with_their_chunks_and_redis_keeps_the_ttl() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = store(&redis, RedisConfig::default());
    let key = CanonicalKey::from_bytes([1; 32]);
    store
        .put(key, stream_entry(Duration::from_secs(60)))
        .await
        .unwrap();
    let found = store.get(&key).await.unwrap().expect("stored");
    let CachedBody::Chunks(chunks) = &found.body else {
        panic!("a stream comes back as chunks")
    };
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1].offset, Duration::from_millis(12));
    assert_eq!(&chunks[0].bytes[..], b"data: {\"a\":1}\n\n");
    let ttl: u64 = redis
        .command(&format!("PTTL {}", entry_name(&key)))
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(
        (50_000..=60_000).contains(&ttl),
        "Redis expires it: {ttl} ms left"
    );
    assert!(store
        .get(&CanonicalKey::from_bytes([2; 32]))
        .await
        .unwrap()
        .is_none());
    let remote = store.stats().remote.unwrap();
    assert_eq!((remote.hits, remote.misses, remote.errors), (1, 1, 0));
    assert!(remote.up);
}

#[tokio::test]
async fn two_processes_share_answers_and_credentials_stay_apart() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let (first, second) = (process(&redis), process(&redis));
    let miss = ask(&first, &mock, "shared", "sk-team-a").await;
    assert_eq!(miss.outcome, "MISS");
    first.flush().await;
    let hit = ask(&second, &mock, "shared", "sk-team-a").await;
    assert_eq!(
        hit.outcome, "HIT",
        "the second process reads the first's entry"
    );
    assert_eq!(hit.body, miss.body, "a stream replays byte for byte");
    let other_key = ask(&second, &mock, "shared", "sk-team-b").await;
    assert_eq!(
        other_key.outcome, "MISS",
        "another credential never reads it"
    );
    assert_eq!(mock.stats().requests_total, 2);
}

#[tokio::test]
async fn corrupt_or_misplaced_values_are_counted_misses_never_answers() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = process(&redis);
    let first = ask(&layer, &mock, "one", "sk-x").await;
    let second = ask(&layer, &mock, "two", "sk-x").await;
    layer.flush().await;
    let (one, two) = (first.key.unwrap(), second.key.unwrap());
    // "one"'s bytes under "two"'s key: a valid entry, for another request.
    let copied = redis.command(&format!(
        "COPY {} {} REPLACE",
        entry_name(&one),
        entry_name(&two)
    ));
    assert_eq!(copied.trim(), ":1");
    let again = ask(&layer, &mock, "two", "sk-x").await;
    assert_eq!(
        again.outcome, "MISS",
        "another request's answer is not served"
    );
    assert_eq!(again.body.len(), second.body.len());
    layer.flush().await;
    redis.command(&format!("SET {} not-an-entry", entry_name(&one)));
    let garbage = ask(&layer, &mock, "one", "sk-x").await;
    assert_eq!(garbage.outcome, "MISS");
    assert_eq!(garbage.body, first.body);
    let remote = layer.stats().store.remote.unwrap();
    assert_eq!(remote.corrupt, 2, "{remote:?}");
    assert_eq!(mock.stats().requests_total, 4);
}

#[tokio::test]
async fn identical_misses_across_three_processes_make_one_upstream_call() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default().latency(Duration::from_millis(300)))
        .await
        .unwrap();
    let processes = [process(&redis), process(&redis), process(&redis)];
    let calls = (0..30).map(|i| {
        let layer = processes[i % 3].clone();
        let mock = &mock;
        async move { ask(&layer, mock, "together", "sk-flight").await }
    });
    let answers = futures_util::future::join_all(calls).await;
    assert_eq!(
        mock.stats().requests_total,
        1,
        "one call for all three processes"
    );
    let misses = answers.iter().filter(|a| a.outcome == "MISS").count();
    assert_eq!(misses, 1);
    assert!(answers.iter().all(|a| a.body == answers[0].body));
    let led: u64 = processes
        .iter()
        .map(|p| p.stats().store.remote.unwrap().flights_led)
        .sum();
    assert_eq!(led, 1);
}

#[tokio::test]
async fn a_leader_whose_answer_fails_frees_the_lock_for_another_process() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default().latency(Duration::from_millis(200)))
        .await
        .unwrap();
    // The first call to arrive is answered 500 (never stored); the other
    // process, waiting for it, takes the lock it frees and calls itself,
    // well before its 60 s wait would run out.
    let waits_long = || {
        store(
            &redis,
            RedisConfig::default().flight_wait(Duration::from_secs(60)),
        )
    };
    let (first, second) = (
        CacheLayer::with_store(CacheConfig::default(), waits_long()),
        CacheLayer::with_store(CacheConfig::default(), waits_long()),
    );
    let fault = [("x-mock-fault", "500"), ("x-mock-fault-times", "1")];
    let both = async {
        tokio::join!(
            ask_with(&first, &mock, "fails once", "sk-f", &fault),
            ask_with(&second, &mock, "fails once", "sk-f", &fault),
        )
    };
    let (a, b) = tokio::time::timeout(Duration::from_secs(20), both)
        .await
        .expect("the waiting process did not sit out its whole wait");
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 500]);
    assert_eq!(mock.stats().requests_total, 2);
}

#[tokio::test]
async fn redis_down_fails_open_and_sharing_resumes_when_it_is_back() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let config = RedisConfig::default().probe_interval(Duration::from_millis(100));
    let layer = CacheLayer::with_store(CacheConfig::default(), store(&redis, config));
    assert_eq!(ask(&layer, &mock, "before", "sk-d").await.outcome, "MISS");
    layer.flush().await;
    redis.stop();
    let started = Instant::now();
    for round in 0..20 {
        let answer = ask(&layer, &mock, &format!("down {round}"), "sk-d").await;
        assert_eq!(
            answer.outcome, "MISS",
            "Redis down: every request still answered"
        );
        assert!(!answer.body.is_empty());
    }
    let down = layer.stats().store.remote.unwrap();
    assert!(!down.up);
    assert!(down.errors >= 1 && down.skipped >= 1, "{down:?}");
    eprintln!("20 requests with Redis down took {:?}", started.elapsed());
    redis.restart();
    // Back (empty): after a probe, entries are shared again.
    let mut shared_again = false;
    for _ in 0..100 {
        ask(&layer, &mock, "after", "sk-d").await;
        layer.flush().await;
        if ask(&layer, &mock, "after", "sk-d").await.outcome == "HIT" {
            shared_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(shared_again, "{:?}", layer.stats().store.remote);
    assert!(layer.stats().store.remote.unwrap().up);
}

#[tokio::test]
async fn clear_removes_one_namespace_only() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let ours = store(&redis, RedisConfig::default().namespace("ours".into()));
    let theirs = store(&redis, RedisConfig::default().namespace("theirs".into()));
    for i in 0..1500u16 {
        let mut bytes = [0u8; 32];
        bytes[..2].copy_from_slice(&i.to_le_bytes());
        let key = CanonicalKey::from_bytes(bytes);
        ours.put(key, stream_entry(Duration::from_secs(60)))
            .await
            .unwrap();
        if i < 10 {
            theirs
                .put(key, stream_entry(Duration::from_secs(60)))
                .await
                .unwrap();
        }
    }
    assert_eq!(ours.clear().await.unwrap(), 1500);
    assert!(ours
        .get(&CanonicalKey::from_bytes([0; 32]))
        .await
        .unwrap()
        .is_none());
    assert!(theirs
        .get(&CanonicalKey::from_bytes([0; 32]))
        .await
        .unwrap()
        .is_some());
    assert_eq!(redis.command("DBSIZE").trim(), ":10");
}

#[tokio::test]
async fn a_memory_tier_answers_repeats_and_never_outlives_the_redis_entry() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let tiered = TieredStore::new(
        MemoryStore::default(),
        store(&redis, RedisConfig::default()),
    )
    .front_ttl(Duration::from_secs(3600));
    let key = CanonicalKey::from_bytes([9; 32]);
    tiered
        .put(key, stream_entry(Duration::from_millis(400)))
        .await
        .unwrap();
    // In memory: answered without waiting.
    assert!(matches!(tiered.get_now(&key), Some(Ok(Some(_)))));
    redis.command(&format!("DEL {}", entry_name(&key)));
    assert!(tiered.get(&key).await.unwrap().is_some(), "the memory copy");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        tiered.get(&key).await.unwrap().is_none(),
        "expired with the Redis TTL"
    );

    // A capped front: a copy read from Redis stays in memory that long.
    let capped = TieredStore::new(
        MemoryStore::default(),
        store(&redis, RedisConfig::default()),
    )
    .front_ttl(Duration::from_millis(100));
    let other = CanonicalKey::from_bytes([8; 32]);
    store(&redis, RedisConfig::default())
        .put(other, stream_entry(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(capped.get(&other).await.unwrap().is_some());
    assert!(matches!(capped.get_now(&other), Some(Ok(Some(_)))));
    redis.command(&format!("DEL {}", entry_name(&other)));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        capped.get(&other).await.unwrap().is_none(),
        "gone from memory too"
    );
}

#[tokio::test]
async fn entries_larger_than_the_limit_are_refused() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = store(&redis, RedisConfig::default().max_entry_bytes(1024));
    let big = Arc::new(CachedResponse {
        body: CachedBody::Whole(Bytes::from(vec![b'x'; 4096])),
        ..(*stream_entry(Duration::from_secs(60))).clone()
    });
    let refused = store
        .put(CanonicalKey::from_bytes([3; 32]), big)
        .await
        .unwrap_err();
    assert!(refused.is_refused());
    assert_eq!(redis.command("DBSIZE").trim(), ":0");
}

#[tokio::test]
async fn rediss_speaks_tls_to_a_server_with_a_private_root() {
    let Some(redis) = RedisServer::start_tls() else {
        return;
    };
    let root = redis.certificate_pem().unwrap().as_bytes().to_vec();
    let trusted = store(
        &redis,
        RedisConfig::default().root_certificate_pem(Some(root)),
    );
    let key = CanonicalKey::from_bytes([5; 32]);
    trusted
        .put(key, stream_entry(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(
        trusted.get(&key).await.unwrap().is_some(),
        "stored and read over TLS"
    );
    // The public roots do not vouch for a self-signed server: misses, not errors to the caller.
    let untrusting = store(&redis, RedisConfig::default());
    assert!(untrusting.get(&key).await.is_err());
    assert!(!untrusting.stats().remote.unwrap().up);
}

#[test]
fn a_url_that_cannot_be_read_is_an_error_without_the_url() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let error = RedisStore::connect(RedisConfig::default().url("http://user:hunter2@x".into()))
        .err()
        .expect("not a Redis URL");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
