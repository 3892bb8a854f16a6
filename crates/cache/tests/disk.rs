//! The disk store: answers survive a restart, and a process killed while
//! writing leaves a readable store.

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{
    CacheConfig, CacheLayer, CacheStore, CachedBody, CachedResponse, DiskStore, MemoryBounds,
};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::CanonicalKey;
use llm_layers_mock::{MockConfig, MockServer};
use tower::{Layer, ServiceExt};

async fn ask(layer: &CacheLayer, mock: &MockServer, text: &str) -> (String, Bytes) {
    let client = layer.layer(
        HyperConnector::builder()
            .build::<ReplayBody<Full<Bytes>>>()
            .unwrap(),
    );
    let body = serde_json::json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": text}]});
    let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", "Bearer sk-disk")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    let outcome = response.headers()["x-llm-cache"]
        .to_str()
        .unwrap()
        .to_owned();
    (
        outcome,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn bounds() -> MemoryBounds {
    MemoryBounds::default()
        .max_bytes(64 << 20)
        .max_entries(10_000)
}

#[tokio::test]
async fn answers_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let first = {
        let layer = CacheLayer::with_store(
            CacheConfig::default(),
            DiskStore::open(&path, bounds()).unwrap(),
        );
        let (outcome, body) = ask(&layer, &mock, "persist").await;
        assert_eq!(outcome, "MISS");
        // The disk write finishes on the blocking pool, after the body;
        // `flush` waits for it.
        layer.flush().await;
        assert_eq!(layer.stats().store.entries, 1);
        assert_eq!(layer.stats().stores, 1);
        body
    };
    // A new store on the same file, as after a restart.
    let layer = CacheLayer::with_store(
        CacheConfig::default(),
        DiskStore::open(&path, bounds()).unwrap(),
    );
    let (outcome, body) = ask(&layer, &mock, "persist").await;
    assert_eq!(outcome, "HIT");
    assert_eq!(body, first, "the stream replays byte for byte");
    assert_eq!(mock.stats().requests_total, 1);
}

fn entry(i: usize, ttl: Duration) -> CachedResponse {
    CachedResponse {
        status: http::StatusCode::OK,
        headers: vec![(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )],
        body: CachedBody::Whole(Bytes::from(format!(
            "{{\"answer\":{i},\"pad\":\"{}\"}}",
            "x".repeat(900)
        ))),
        stored_at: std::time::SystemTime::now(),
        ttl,
        usage: Default::default(),
    }
}

fn key(i: usize) -> CanonicalKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    CanonicalKey::from_bytes(bytes)
}

#[tokio::test]
async fn bounds_and_ttl_hold_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(
        dir.path().join("bounded.redb"),
        MemoryBounds::default().max_bytes(20 * 1024).max_entries(15),
    )
    .unwrap();
    for i in 0..40 {
        store
            .put(key(i), entry(i, Duration::from_secs(60)).into())
            .await
            .unwrap();
    }
    let stats = store.stats();
    assert!(stats.entries <= 15 && stats.bytes <= 20 * 1024, "{stats:?}");
    assert!(stats.evicted_size >= 25, "{stats:?}");
    assert!(
        store.get(&key(0)).await.unwrap().is_none(),
        "the oldest went first"
    );
    assert!(store.get(&key(39)).await.unwrap().is_some());
    store
        .put(key(100), entry(100, Duration::from_millis(100)).into())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.get(&key(100)).await.unwrap().is_none(), "expired");
    assert_eq!(store.stats().evicted_ttl, 1);
    let remaining = store.stats().entries;
    assert_eq!(store.clear().await.unwrap(), remaining);
    assert_eq!(store.stats().entries, 0);
}

/// Not a test on its own: the child process of the crash test, writing
/// until it is killed.
#[test]
#[ignore = "run by killed_mid_write_the_store_stays_readable"]
fn disk_writer_child() {
    let Ok(path) = std::env::var("LLM_LAYERS_DISK_CHILD") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = DiskStore::open(path, bounds()).unwrap();
    runtime.block_on(async {
        for i in 0.. {
            store
                .put(key(i), entry(i, Duration::from_secs(600)).into())
                .await
                .unwrap();
            println!("committed {i}");
        }
    });
}

#[test]
fn killed_mid_write_the_store_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "disk_writer_child", "--ignored", "--nocapture"])
        .env("LLM_LAYERS_DISK_CHILD", &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it commit a few hundred entries, then kill it without warning.
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = DiskStore::open(&path, bounds()).expect("the store opens after a crash");
    let entries = store.stats().entries;
    assert!(
        entries > 0,
        "the child committed entries before it was killed"
    );
    runtime.block_on(async {
        for i in 0..entries as usize {
            let found = store.get(&key(i)).await.unwrap();
            assert!(found.is_some(), "entry {i} of {entries} is readable");
        }
        // And the store still takes writes.
        store
            .put(key(1_000_000), entry(0, Duration::from_secs(60)).into())
            .await
            .unwrap();
    });
}

#[tokio::test]
async fn an_entry_larger_than_the_disk_store_is_refused_and_evicts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(
        dir.path().join("small.redb"),
        MemoryBounds::default().max_bytes(2 * 1024).max_entries(15),
    )
    .unwrap();
    store
        .put(key(1), entry(1, Duration::from_secs(60)).into())
        .await
        .unwrap();
    let mut huge = entry(2, Duration::from_secs(60));
    huge.body = CachedBody::Whole(Bytes::from(vec![b' '; 4 * 1024]));
    let refused = store.put(key(2), huge.into()).await.unwrap_err();
    assert!(refused.is_refused(), "{refused}");
    assert!(
        store.get(&key(1)).await.unwrap().is_some(),
        "nothing evicted for it"
    );
    assert_eq!(store.stats().evicted_size, 0);
}
