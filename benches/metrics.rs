//! MetricsLayer overhead against the same in-process upstream without the
//! layer, with the Prometheus recorder installed: per non-streamed request
//! (request facts already known, as behind another layer, and worked out by
//! the layer itself), and per chunk of a streamed response.
//!
//! `cargo bench --bench metrics`

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http_body_util::Full;
use llm_layers::core::RequestFacts;
use llm_layers::metrics::MetricsLayer;
use tower::Layer;

mod support;
use support::{drive, json_upstream, stream_upstream};

const REQUEST: &[u8] = br#"{"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Count the nodes in the workflow and report back."}]}"#;
const ANSWER: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"There are twelve nodes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":6,"prompt_tokens_details":{"cached_tokens":0}}}"#;
const CHUNKS: usize = 200;

fn stream_frames() -> VecDeque<Bytes> {
    let mut frames: VecDeque<Bytes> = (0..CHUNKS)
        .map(|i| Bytes::from(format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" w{i}\"}}}}],\"usage\":null}}\n\n")))
        .collect();
    frames.push_back(Bytes::from_static(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":200}}\n\ndata: [DONE]\n\n"));
    frames
}

fn request(with_facts: bool) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::post("https://api.openai.com/v1/chat/completions")
        .body(Full::new(Bytes::from_static(REQUEST)))
        .unwrap();
    if with_facts {
        let (mut parts, body) = request.into_parts();
        RequestFacts::from_parts(&parts, Bytes::from_static(REQUEST))
            .insert_into(&mut parts.extensions);
        request = http::Request::from_parts(parts, body);
    }
    request
}

fn overhead(c: &mut Criterion) {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("recorder");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("metrics_per_request");
    let mut bare = json_upstream(ANSWER);
    group.bench_function("without_layer", |b| {
        b.iter_batched(
            || request(true),
            |request| runtime.block_on(drive(&mut bare, request)),
            BatchSize::SmallInput,
        )
    });
    let mut layered = MetricsLayer::default().layer(json_upstream(ANSWER));
    group.bench_function("with_layer_facts_known", |b| {
        b.iter_batched(
            || request(true),
            |request| runtime.block_on(drive(&mut layered, request)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("with_layer_facts_worked_out", |b| {
        b.iter_batched(
            || request(false),
            |request| runtime.block_on(drive(&mut layered, request)),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("metrics_streamed_200_chunks");
    let mut bare = stream_upstream(stream_frames);
    group.bench_function("without_layer", |b| {
        b.iter_batched(
            || request(true),
            |request| runtime.block_on(drive(&mut bare, request)),
            BatchSize::SmallInput,
        )
    });
    let mut layered = MetricsLayer::default().layer(stream_upstream(stream_frames));
    group.bench_function("with_layer", |b| {
        b.iter_batched(
            || request(true),
            |request| runtime.block_on(drive(&mut layered, request)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    // Keep the exporter's handle alive and prove it saw the calls.
    assert!(handle.render().contains("llm_requests_total"));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = overhead
}
criterion_main!(benches);
