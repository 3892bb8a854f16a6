//! The main job, for now: start the mock provider on loopback, send it a
//! plain and a streamed chat completion and an Anthropic message over real
//! TCP, and read each with the core's request facts, SSE parser and usage
//! extraction. Then repeat a long-prompt call to show the emulated provider
//! prompt cache at work, and finally send the same streamed call three times
//! through the layers built so far (metrics over cache over the pooled
//! connector) to show a response-cache hit, one connection, and the stats.
//!
//! `cargo run --release --example quickstart`

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers::core::usage::usage_from_json;
use llm_layers::core::{RequestFacts, SseParser, Usage, UsageTracker};
use llm_layers_mock::{MockConfig, MockServer};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Outcome {
    label: String,
    model: String,
    stream: bool,
    key: String,
    usage: Usage,
    millis: f64,
}

async fn call(client: &HttpClient, url: &str, label: &str, body: serde_json::Value) -> Outcome {
    let body = Bytes::from(body.to_string());
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-quickstart")
        .body(Full::new(body.clone()))
        .expect("valid request");
    // What every layer sees: the facts, worked out once from the request.
    let (parts, full) = request.into_parts();
    let facts = RequestFacts::from_parts(&parts, body);
    let request = http::Request::from_parts(parts, full);

    let started = Instant::now();
    let response = client.request(request).await.expect("mock answers");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&bytes)
    );

    let usage = if facts.stream() {
        let mut parser = SseParser::new();
        let mut tracker = UsageTracker::new(facts.kind());
        parser.feed(&bytes, |event| tracker.observe(event));
        tracker.usage().cloned()
    } else {
        usage_from_json(facts.kind(), &bytes)
    };
    Outcome {
        label: label.to_owned(),
        model: facts.model().unwrap_or("?").to_owned(),
        stream: facts.stream(),
        key: facts
            .canonical_key()
            .map(|k| k.to_hex()[..12].to_owned())
            .unwrap_or_default(),
        usage: usage.expect("the mock reports usage"),
        millis,
    }
}

#[tokio::main]
async fn main() {
    let server = MockServer::start(MockConfig::default())
        .await
        .expect("mock starts");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let base = server.base_url();
    let chat = format!("{base}/v1/chat/completions");
    let messages = format!("{base}/v1/messages");
    let instructions = "You maintain a workflow of pricing nodes. Keep every rule. ".repeat(200);

    let mut outcomes =
        vec![
        call(&client, &chat, "chat", serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Say hello"}]
        })).await,
        call(&client, &chat, "chat, streamed", serde_json::json!({
            "model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Say hello"}]
        })).await,
        call(&client, &messages, "anthropic, streamed", serde_json::json!({
            "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "Say hello"}]
        })).await,
    ];
    for task in 1..=3 {
        outcomes.push(
            call(
                &client,
                &chat,
                &format!("long prompt, task {task}"),
                serde_json::json!({
                    "model": "gpt-4o",
                    "messages": [
                        {"role": "system", "content": instructions},
                        {"role": "user", "content": format!("Task {task}: add a node")}
                    ]
                }),
            )
            .await,
        );
    }

    println!("llm-layers quickstart against the mock at {base}\n");
    println!(
        "{:<22} {:<18} {:>6} {:>13} {:>7} {:>7} {:>7} {:>8}",
        "call", "model", "stream", "key", "input", "cached", "output", "ms"
    );
    for o in &outcomes {
        println!(
            "{:<22} {:<18} {:>6} {:>13} {:>7} {:>7} {:>7} {:>8.2}",
            o.label,
            o.model,
            o.stream,
            o.key,
            o.usage.input_tokens,
            o.usage.cache_read_tokens,
            o.usage.output_tokens,
            o.millis
        );
    }
    let stats = server.stats();
    println!(
        "\nmock: {} requests over {} connection(s); emulated prompt-cache entries: {}",
        stats.requests_total, stats.connections, stats.prompt_cache_entries
    );

    through_the_layers(&chat).await;
}

/// The same streamed call three times through metrics, cache and the pooled
/// connector.
async fn through_the_layers(url: &str) {
    use llm_layers::cache::{CacheConfig, CacheLayer};
    use llm_layers::connector::HyperConnector;
    use llm_layers::metrics::{MetricsConfig, MetricsLayer};
    use tower::{ServiceBuilder, ServiceExt};

    let metrics = MetricsLayer::new(MetricsConfig::default());
    let stats = metrics.stats();
    let cache = CacheLayer::new(CacheConfig::default());
    let connector = HyperConnector::builder().build().expect("connector");
    let client = ServiceBuilder::new()
        .layer(metrics)
        .layer(cache.clone())
        .service(connector.clone());
    println!("\nthe same streamed call three times through metrics -> cache -> pooled connector:");
    for call in 1..=3 {
        let request = http::Request::post(url)
            .header("authorization", "Bearer sk-quickstart")
            .body(Full::new(Bytes::from_static(
                br#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Summarise the workflow"}]}"#,
            )))
            .expect("valid request");
        let started = Instant::now();
        let response = client.clone().oneshot(request).await.expect("answer");
        let outcome = response.headers()["x-llm-cache"]
            .to_str()
            .unwrap_or("?")
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        println!(
            "  call {call}: x-llm-cache {outcome:<5} {:>6} bytes in {:.2} ms",
            body.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    let pool = connector.stats();
    let cache_stats = cache.stats();
    let snapshot = stats.snapshot();
    let model = &snapshot.by_model["gpt-4o-mini"];
    println!(
        "  connections opened {}, cache hits {} / misses {}, tokens billed {} (input {}), tokens saved by the cache {}",
        pool.opened,
        cache_stats.hits,
        cache_stats.misses,
        model.tokens,
        model.tokens_by_kind.input,
        model.tokens_saved.input + model.tokens_saved.output
    );
}
