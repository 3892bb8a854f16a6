//! Core costs on the hot path: request facts (canonical key included) beside
//! raw blake3 over the same bytes, SSE parsing throughput, usage extraction.
//!
//! `cargo bench --bench core`

use std::time::Duration;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use llm_layers::core::usage::usage_from_json;
use llm_layers::core::{ApiKind, RequestFacts, SseParser, UsageTracker};

/// A chat request with a system prompt, a tool and a conversation, of about
/// `size` bytes.
fn chat_request(size: usize) -> Bytes {
    let sentence = "Check the workflow node, keep prices above 100 and report back. ";
    let mut messages = vec![serde_json::json!({
        "role": "system",
        "content": sentence.repeat(8),
    })];
    let mut turn = 0;
    while serde_json::to_vec(&messages).unwrap().len() + 600 < size {
        let role = if turn % 2 == 0 { "user" } else { "assistant" };
        messages.push(serde_json::json!({"role": role, "content": sentence.repeat(3)}));
        turn += 1;
    }
    let body = serde_json::json!({
        "model": "gpt-4o",
        "temperature": 0.2,
        "stream": false,
        "messages": messages,
        "tools": [{"type": "function", "function": {
            "name": "update_node",
            "description": "Update a node in the workflow",
            "parameters": {"type": "object", "properties": {
                "id": {"type": "string"}, "price": {"type": "number"}
            }, "required": ["id"]}
        }}]
    });
    Bytes::from(serde_json::to_vec(&body).unwrap())
}

fn facts_of(parts: &http::request::Parts, body: &Bytes) -> RequestFacts {
    RequestFacts::from_parts(parts, body.clone())
}

fn canonical_key(c: &mut Criterion) {
    let (parts, ()) = http::Request::post("https://api.openai.com/v1/chat/completions")
        .header("authorization", "Bearer sk-bench")
        .body(())
        .unwrap()
        .into_parts();
    let mut group = c.benchmark_group("canonical_key");
    for size in [1 << 10, 8 << 10, 64 << 10] {
        let body = chat_request(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("request_facts", size), &body, |b, body| {
            b.iter(|| black_box(facts_of(&parts, body).canonical_key()))
        });
        group.bench_with_input(BenchmarkId::new("blake3_raw", size), &body, |b, body| {
            b.iter(|| black_box(blake3::hash(body)))
        });
        group.bench_with_input(
            BenchmarkId::new("serde_json_value", size),
            &body,
            |b, body| {
                b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(body).unwrap()))
            },
        );
    }
    group.finish();
}

fn openai_stream(chunks: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..chunks {
        out.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" word{i}\"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    out.push_str("data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":500}}\n\ndata: [DONE]\n\n");
    out.into_bytes()
}

fn sse(c: &mut Criterion) {
    let stream = openai_stream(500);
    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("parse_500_chunks_whole", |b| {
        b.iter(|| {
            let mut parser = SseParser::new();
            let mut count = 0;
            parser.feed(black_box(&stream), |_| count += 1);
            count
        })
    });
    group.bench_function("parse_500_chunks_in_64_byte_pieces", |b| {
        b.iter(|| {
            let mut parser = SseParser::new();
            let mut count = 0;
            for piece in stream.chunks(64) {
                parser.feed(black_box(piece), |_| count += 1);
            }
            count
        })
    });
    group.bench_function("parse_and_track_usage_500_chunks", |b| {
        b.iter(|| {
            let mut parser = SseParser::new();
            let mut tracker = UsageTracker::new(ApiKind::OpenAiChat);
            parser.feed(black_box(&stream), |event| tracker.observe(event));
            tracker.usage().map(|u| u.output_tokens)
        })
    });
    group.finish();
}

fn usage(c: &mut Criterion) {
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"A short answer of a few words that the model gave back to the caller."},"finish_reason":"stop"}],"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920},"completion_tokens_details":{"reasoning_tokens":0}}}"#;
    c.bench_function("usage/openai_chat_json", |b| {
        b.iter(|| usage_from_json(ApiKind::OpenAiChat, black_box(body)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = canonical_key, sse, usage
}
criterion_main!(benches);
