//! The canonical key carries its format's version: a disk store written
//! under an older key format opens, and its entries are simply misses (the
//! answer is fetched again and stored under the new key), never an error
//! and never the old answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{CacheConfig, CacheLayer, DiskStore, MemoryBounds};
use llm_layers_core::body::ReplayBody;
use tower::{service_fn, Layer, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A disk store written by `llm-layers` at commit `f582ed9` (key format
/// 1, before the key carried a version), holding the answer "old answer"
/// to [`request`]. Made by `write_fixture` below at that commit.
const FORMAT_1_STORE: &[u8] = include_bytes!("fixtures/key_format_1.redb");

fn request() -> http::Request<Full<Bytes>> {
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"key format"}]}"#;
    http::Request::post("https://api.openai.com/v1/chat/completions")
        .header("authorization", "Bearer sk-key-format")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn answer(text: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-key-format", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    })
    .to_string()
}

fn layer(path: &std::path::Path) -> CacheLayer {
    let bounds = MemoryBounds::default().max_bytes(1 << 20);
    CacheLayer::with_store(
        CacheConfig::default(),
        DiskStore::open(path, bounds).unwrap(),
    )
}

/// Sends [`request`] through `layer` to an upstream answering `text`;
/// returns the cache outcome, the body, and whether the upstream was asked.
async fn ask(layer: &CacheLayer, text: &str) -> (String, String, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let upstream = {
        let (calls, body) = (calls.clone(), answer(text));
        service_fn(move |_request: http::Request<ReplayBody<Full<Bytes>>>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let response = http::Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap();
            async move { Ok::<_, BoxError>(response) }
        })
    };
    let response = layer.layer(upstream).oneshot(request()).await.unwrap();
    let outcome = response.headers()["x-llm-cache"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    layer.flush().await;
    let body = String::from_utf8(body.to_vec()).unwrap();
    (outcome, body, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn entries_of_an_older_key_format_are_misses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    std::fs::write(&path, FORMAT_1_STORE).unwrap();
    let layer = layer(&path);
    assert_eq!(
        layer.stats().store.entries,
        1,
        "the old store opens with its entry"
    );

    let (outcome, body, calls) = ask(&layer, "new answer").await;
    assert_eq!((outcome.as_str(), calls), ("MISS", 1));
    assert!(body.contains("new answer"), "{body}");

    let (outcome, body, calls) = ask(&layer, "not asked").await;
    assert_eq!((outcome.as_str(), calls), ("HIT", 0));
    assert!(body.contains("new answer"), "{body}");
    assert_eq!(
        layer.stats().store.entries,
        2,
        "the old entry stays until it ages out"
    );
}

/// Writes the fixture with the key format of the code it runs on:
/// `KEY_FORMAT_FIXTURE=path cargo test -p llm-layers-cache --test
/// key_format -- --ignored`.
#[tokio::test]
#[ignore = "writes a fixture; run by hand"]
async fn write_fixture() {
    let path = std::env::var("KEY_FORMAT_FIXTURE").expect("KEY_FORMAT_FIXTURE=path");
    let layer = layer(std::path::Path::new(&path));
    let (outcome, _, _) = ask(&layer, "old answer").await;
    assert_eq!(outcome, "MISS");
}
