//! The memory store's two ways in: at once (`get_now`, `put_now`, which
//! the layer uses to spare a boxed future per call) and awaited (`get`,
//! `put`, which every store has) see the same entries.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use llm_layers_cache::{CacheStore, CachedBody, CachedResponse, MemoryStore};
use llm_layers_core::CanonicalKey;

fn entry(answer: &str, ttl: Duration) -> Arc<CachedResponse> {
    Arc::new(CachedResponse {
        status: http::StatusCode::OK,
        headers: vec![(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )],
        body: CachedBody::Whole(Bytes::from(format!("{{\"answer\":\"{answer}\"}}"))),
        stored_at: std::time::SystemTime::now(),
        ttl,
        usage: Default::default(),
    })
}

fn key(byte: u8) -> CanonicalKey {
    CanonicalKey::from_bytes([byte; 32])
}

fn body(entry: &CachedResponse) -> Bytes {
    match &entry.body {
        CachedBody::Whole(bytes) => bytes.clone(),
        CachedBody::Chunks(_) => panic!("a whole body was stored"),
    }
}

#[tokio::test]
async fn entries_put_at_once_are_found_awaited_and_the_other_way_round() {
    let store = MemoryStore::default();
    let stored = store.put_now(key(1), &entry("one", Duration::from_secs(60)));
    assert!(matches!(stored, Some(Ok(()))), "memory stores at once");
    let found = store.get(&key(1)).await.unwrap().expect("stored");
    assert_eq!(body(&found), r#"{"answer":"one"}"#);

    store
        .put(key(2), entry("two", Duration::from_secs(60)))
        .await
        .unwrap();
    let found = store.get_now(&key(2)).expect("memory answers at once");
    assert_eq!(
        body(&found.unwrap().expect("stored")),
        r#"{"answer":"two"}"#
    );

    assert!(matches!(store.get_now(&key(3)), Some(Ok(None))));
    store.run_pending_tasks();
    assert_eq!(store.stats().entries, 2);
}

#[tokio::test]
async fn an_expired_entry_is_not_answered_at_once_either() {
    let store = MemoryStore::default();
    store.put_now(key(1), &entry("brief", Duration::from_millis(500)));
    assert!(matches!(store.get_now(&key(1)), Some(Ok(Some(_)))));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(matches!(store.get_now(&key(1)), Some(Ok(None))));
    assert!(store.get(&key(1)).await.unwrap().is_none());
}
