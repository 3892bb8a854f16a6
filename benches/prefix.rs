//! The prompt-prefix rewrite beside parsing the same body once with
//! serde_json, for 4 KB and 32 KB chat requests with tools.
//!
//! The rewrite column is everything the layer does to a fresh request:
//! request facts (scan and canonical key), the shared JSON parse, the
//! rewrite itself and serialising the new body.
//!
//! `cargo bench --bench prefix`

use std::time::Duration;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use llm_layers::core::RequestFacts;
use llm_layers::prefix::PromptPrefixLayer;
use llm_layers_mock::workload::AgentWorkflow;

fn rewrite_vs_parse(c: &mut Criterion) {
    let (parts, ()) = http::Request::post("https://api.openai.com/v1/chat/completions")
        .header("authorization", "Bearer sk-bench")
        .body(())
        .unwrap()
        .into_parts();
    let layer = PromptPrefixLayer::default();
    let mut group = c.benchmark_group("prefix");
    group.measurement_time(Duration::from_secs(4));
    for (label, system, task) in [("4KB", 2_400, 400), ("32KB", 30_000, 800)] {
        let workflow = AgentWorkflow {
            static_system_bytes: system,
            task_bytes: task,
            ..AgentWorkflow::default()
        };
        let body = Bytes::from(workflow.openai_chat("gpt-4o", 1));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("serde_parse", label), &body, |b, body| {
            b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(body).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("rewrite", label), &body, |b, body| {
            b.iter(|| {
                let facts = RequestFacts::from_parts(&parts, body.clone());
                black_box(layer.rewrite(&facts, None).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, rewrite_vs_parse);
criterion_main!(benches);
