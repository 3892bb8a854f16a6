//! RetryLayer and CircuitBreakerLayer: the cost each adds to a successful
//! call, against the same in-process upstream without it, in one run.
//! Request facts are already known, as they are inside an `LlmStack`.
//!
//! `cargo bench --bench resilience`

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http_body_util::Full;
use llm_layers::core::RequestFacts;
use llm_layers::resilience::{CircuitBreakerLayer, RetryLayer};
use tower::Layer;

mod support;
use support::{drive, json_upstream};

const REQUEST: &[u8] = br#"{"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Count the nodes in the workflow and report back."}]}"#;
const ANSWER: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"There are twelve nodes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":6}}"#;

/// A request with its facts, as a layer inside the stack gets it.
fn request() -> http::Request<Full<Bytes>> {
    let (mut parts, body) = http::Request::post("https://api.openai.com/v1/chat/completions")
        .header("authorization", "Bearer sk-bench")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(REQUEST)))
        .unwrap()
        .into_parts();
    RequestFacts::from_parts(&parts, Bytes::from_static(REQUEST))
        .insert_into(&mut parts.extensions);
    http::Request::from_parts(parts, body)
}

fn per_call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("resilience_per_call");
    let mut bare = json_upstream(ANSWER);
    group.bench_function("without_layer", |b| {
        b.iter_batched(
            request,
            |request| runtime.block_on(drive(&mut bare, request)),
            BatchSize::SmallInput,
        )
    });
    let mut retried = RetryLayer::default().layer(json_upstream(ANSWER));
    group.bench_function("retry", |b| {
        b.iter_batched(
            request,
            |request| runtime.block_on(drive(&mut retried, request)),
            BatchSize::SmallInput,
        )
    });
    let mut guarded = CircuitBreakerLayer::default().layer(json_upstream(ANSWER));
    group.bench_function("breaker", |b| {
        b.iter_batched(
            request,
            |request| runtime.block_on(drive(&mut guarded, request)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = per_call
}
criterion_main!(benches);
