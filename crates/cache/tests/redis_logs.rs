//! A Redis that goes down and comes back is one log line each way, however
//! many requests meet it meanwhile. (Its own test binary, with one test:
//! `tracing` decides per process which call sites log.)

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use llm_layers_cache::{CacheStore, CachedBody, CachedResponse, RedisConfig, RedisStore};
use llm_layers_core::CanonicalKey;
use llm_layers_mock::testing::{CapturedLogs, RedisServer};

#[tokio::test]
async fn one_line_when_redis_goes_down_and_one_when_it_is_back() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (logs, _logging) = CapturedLogs::on_this_thread();
    let store = RedisStore::connect(
        RedisConfig::default()
            .url(redis.url())
            .operation_timeout(Duration::from_millis(500))
            .probe_interval(Duration::from_millis(50)),
    )
    .unwrap();
    let key = CanonicalKey::from_bytes([4; 32]);
    assert!(store.get(&key).await.unwrap().is_none());
    redis.stop();
    for _ in 0..20 {
        assert!(
            store.get(&key).await.is_err(),
            "down: every read fails, as a miss"
        );
    }
    redis.restart();
    let entry = std::sync::Arc::new(CachedResponse {
        status: http::StatusCode::OK,
        headers: Vec::new(),
        body: CachedBody::Whole(Bytes::from_static(b"{}")),
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(60),
        usage: Default::default(),
    });
    let mut back = false;
    for _ in 0..200 {
        if store.put(key, entry.clone()).await.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "{:?}", store.stats().remote);
    let text = logs.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("redis store"))
        .collect();
    assert_eq!(lines.len(), 2, "one line down, one line back: {text}");
    assert!(lines[0].contains("WARN") && lines[0].contains("unreachable"));
    assert!(lines[1].contains("INFO") && lines[1].contains("reachable again"));
}
