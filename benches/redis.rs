//! The Redis store beside the memory store, on loopback: a hit's latency,
//! and what a miss costs with each store (a miss with Redis reads, takes
//! the flight lock, writes and frees it) against the same in-process
//! upstream without a cache.
//!
//! `cargo bench --features redis --bench redis` (starts its own
//! `redis-server` on a free port; says so and stops when there is none)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use http_body_util::Full;
use llm_layers::cache::{
    CacheConfig, CacheLayer, MemoryStore, RedisConfig, RedisStore, TieredStore,
};
use llm_layers_mock::testing::RedisServer;
use tower::Layer;

mod support;
use support::{drive, json_upstream};

const ANSWER: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"There are twelve nodes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":6}}"#;

/// A 1 KiB chat request; `salt` makes it unique.
fn request(salt: u64) -> http::Request<Full<Bytes>> {
    let filler = "Check the workflow node and keep prices above 100. ".repeat(18);
    let body = serde_json::json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": filler},
            {"role": "user", "content": format!("task {salt}")}
        ]
    });
    http::Request::post("https://api.openai.com/v1/chat/completions")
        .header("authorization", "Bearer sk-bench")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
        .unwrap()
}

/// The layers compared, each on a fresh namespace of the one server.
fn layers(redis: &RedisServer, run: &str) -> Vec<(&'static str, CacheLayer)> {
    // Entries from the miss runs expire instead of piling up in Redis.
    let config = || CacheConfig::default().default_ttl(Duration::from_secs(20));
    let store = |name: &str| {
        RedisStore::connect(
            RedisConfig::default()
                .url(redis.url())
                .namespace(format!("{run}-{name}")),
        )
        .unwrap()
    };
    vec![
        (
            "memory",
            CacheLayer::with_store(config(), MemoryStore::default()),
        ),
        ("redis", CacheLayer::with_store(config(), store("redis"))),
        (
            "memory+redis",
            CacheLayer::with_store(
                config(),
                TieredStore::new(MemoryStore::default(), store("tiered")),
            ),
        ),
    ]
}

fn redis_store(c: &mut Criterion) {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();

    let mut hits = c.benchmark_group("store_hit");
    for (name, layer) in layers(&redis, "hit") {
        let mut cached = layer.layer(json_upstream(ANSWER));
        runtime.block_on(async {
            drive(&mut cached, request(0)).await;
            layer.flush().await;
        });
        hits.bench_function(BenchmarkId::new("hit", name), |b| {
            b.iter_batched(
                || request(0),
                |r| runtime.block_on(drive(&mut cached, r)),
                BatchSize::SmallInput,
            )
        });
    }
    hits.finish();

    let salt = AtomicU64::new(1);
    let mut misses = c.benchmark_group("store_miss");
    let mut bare = json_upstream(ANSWER);
    misses.bench_function(BenchmarkId::new("miss", "no cache"), |b| {
        b.iter_batched(
            || request(salt.fetch_add(1, Ordering::Relaxed)),
            |r| runtime.block_on(drive(&mut bare, r)),
            BatchSize::SmallInput,
        )
    });
    for (name, layer) in layers(&redis, "miss") {
        let mut cached = layer.layer(json_upstream(ANSWER));
        misses.bench_function(BenchmarkId::new("miss", name), |b| {
            b.iter_batched(
                || request(salt.fetch_add(1, Ordering::Relaxed)),
                // The write (and the lock's release) finish before the next
                // miss: each miss pays for all of its Redis work.
                |r| {
                    runtime.block_on(async {
                        drive(&mut cached, r).await;
                        layer.flush().await;
                    })
                },
                BatchSize::SmallInput,
            )
        });
    }
    misses.finish();
}

criterion_group!(benches, redis_store);
criterion_main!(benches);
