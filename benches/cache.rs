//! CacheLayer: the hit path beside raw blake3 over the same request body,
//! and the overhead a miss adds (recording and storing) against the same
//! in-process upstream without the layer, plain and streamed.
//!
//! `cargo bench --bench cache`

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use http_body_util::Full;
use llm_layers::cache::{CacheConfig, CacheLayer};
use llm_layers::connector::HyperConnector;
use llm_layers::core::body::ReplayBody;
use tower::Layer;

mod support;
use support::{drive, json_upstream, stream_upstream};

const ANSWER: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"There are twelve nodes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":6}}"#;

/// A chat request of about `size` bytes; `salt` makes it unique.
fn chat_request(size: usize, salt: u64) -> Bytes {
    let filler = "Check the workflow node and keep prices above 100. ".repeat(size / 52 + 1);
    let body = serde_json::json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": &filler[..size.saturating_sub(120).min(filler.len())]},
            {"role": "user", "content": format!("task {salt}")}
        ]
    });
    Bytes::from(serde_json::to_vec(&body).unwrap())
}

fn request(body: Bytes) -> http::Request<Full<Bytes>> {
    http::Request::post("https://api.openai.com/v1/chat/completions")
        .header("authorization", "Bearer sk-bench")
        .body(Full::new(body))
        .unwrap()
}

/// 50 content chunks and `[DONE]`.
fn stream_frames() -> VecDeque<Bytes> {
    let mut frames: VecDeque<Bytes> = (0..50)
        .map(|i| {
            Bytes::from(format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\" w{i}\"}}}}]}}\n\n"
            ))
        })
        .collect();
    frames.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
    frames
}

fn hit_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("cache_hit");
    for size in [1 << 10, 8 << 10, 64 << 10] {
        let body = chat_request(size, 0);
        let mut cached = CacheLayer::new(CacheConfig::default()).layer(json_upstream(ANSWER));
        runtime.block_on(drive(&mut cached, request(body.clone())));
        group.bench_with_input(BenchmarkId::new("layer_hit", size), &body, |b, body| {
            b.iter_batched(
                || request(body.clone()),
                |r| runtime.block_on(drive(&mut cached, r)),
                BatchSize::SmallInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("blake3_raw", size), &body, |b, body| {
            b.iter(|| blake3::hash(body))
        });
    }
    group.finish();
}

fn miss_overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let salt = AtomicU64::new(1);
    let unique = || request(chat_request(1 << 10, salt.fetch_add(1, Ordering::Relaxed)));
    let mut group = c.benchmark_group("cache_miss_1k_request");
    let mut bare = json_upstream(ANSWER);
    group.bench_function("plain_without_layer", |b| {
        b.iter_batched(
            unique,
            |r| runtime.block_on(drive(&mut bare, r)),
            BatchSize::SmallInput,
        )
    });
    let mut layered = CacheLayer::new(CacheConfig::default()).layer(json_upstream(ANSWER));
    group.bench_function("plain_with_layer", |b| {
        b.iter_batched(
            unique,
            |r| runtime.block_on(drive(&mut layered, r)),
            BatchSize::SmallInput,
        )
    });
    let mut bare = stream_upstream(stream_frames);
    group.bench_function("streamed_51_chunks_without_layer", |b| {
        b.iter_batched(
            unique,
            |r| runtime.block_on(drive(&mut bare, r)),
            BatchSize::SmallInput,
        )
    });
    let mut layered = CacheLayer::new(CacheConfig::default()).layer(stream_upstream(stream_frames));
    group.bench_function("streamed_51_chunks_with_layer", |b| {
        b.iter_batched(
            unique,
            |r| runtime.block_on(drive(&mut layered, r)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The same misses against the HTTP mock on loopback, through the pooled
/// connector, with and without the layer.
fn miss_over_loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(llm_layers_mock::MockServer::start(
            llm_layers_mock::MockConfig::default(),
        ))
        .unwrap();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let salt = AtomicU64::new(1);
    let unique = || {
        let body = chat_request(1 << 10, salt.fetch_add(1, Ordering::Relaxed));
        http::Request::post(url.as_str())
            .header("authorization", "Bearer sk-bench")
            .body(Full::new(body))
            .unwrap()
    };
    let connector = || {
        HyperConnector::builder()
            .build::<ReplayBody<Full<Bytes>>>()
            .unwrap()
    };
    let mut group = c.benchmark_group("cache_miss_loopback_mock");
    let mut bare = HyperConnector::builder().build::<Full<Bytes>>().unwrap();
    group.bench_function("without_layer", |b| {
        b.iter_batched(
            unique,
            |r| runtime.block_on(drive(&mut bare, r)),
            BatchSize::SmallInput,
        )
    });
    let mut layered = CacheLayer::new(CacheConfig::default()).layer(connector());
    group.bench_function("with_layer", |b| {
        b.iter_batched(
            unique,
            |r| runtime.block_on(drive(&mut layered, r)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = hit_path, miss_overhead, miss_over_loopback
}
criterion_main!(benches);
