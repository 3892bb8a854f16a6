//! The layers composed by hand, outermost first: metrics, cache, then the
//! pooled connector, against the mock on loopback.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers::cache::{CacheConfig, CacheLayer};
use llm_layers::connector::HyperConnector;
use llm_layers::metrics::{MetricsConfig, MetricsLayer};
use llm_layers_mock::{MockConfig, MockServer};
use tower::{ServiceBuilder, ServiceExt};

#[tokio::test]
async fn metrics_see_cache_hits_as_saved_tokens_and_one_connection_serves_all() {
    let mock = MockServer::start(MockConfig::default().tls(true))
        .await
        .unwrap();
    let metrics = MetricsLayer::new(MetricsConfig::default());
    let stats = metrics.stats();
    let cache = CacheLayer::new(CacheConfig::default());
    let connector = HyperConnector::builder()
        .add_root_certificate(mock.certificate_der().unwrap().clone())
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(metrics)
        .layer(cache.clone())
        .service(connector.clone());
    let body = r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"stack"}]}"#;
    let mut bodies = Vec::new();
    for expected in ["MISS", "HIT", "HIT"] {
        let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
            .header("authorization", "Bearer sk-stack")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.headers()["x-llm-cache"], expected);
        bodies.push(response.into_body().collect().await.unwrap().to_bytes());
    }
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "hits replay the stream byte for byte"
    );
    assert_eq!(mock.stats().requests_total, 1);
    assert_eq!(connector.stats().opened, 1);

    let snapshot = stats.snapshot();
    let model = &snapshot.by_model["gpt-4o"];
    assert_eq!(model.calls, 3);
    assert!(model.tokens_by_kind.input > 0, "the miss consumed tokens");
    assert_eq!(
        model.tokens_saved.input,
        2 * model.tokens_by_kind.input,
        "two hits saved the same again"
    );
    assert!((snapshot.cache_hit_rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(cache.stats().hits, 2);
}

/// Metrics over cache over prompt prefix over the connector, streamed: the
/// prefix layer repairs the prompt, the provider's cache serves the static
/// prefix from the second workflow call on, the response cache answers the
/// repeated call, and every layer reads one parse of each stream.
#[tokio::test]
async fn prefix_repair_and_response_cache_work_together_on_streams() {
    use llm_layers::prefix::PromptPrefixLayer;
    use llm_layers_mock::workload::AgentWorkflow;

    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let metrics = MetricsLayer::new(MetricsConfig::default());
    let prefix = PromptPrefixLayer::default();
    let client = ServiceBuilder::new()
        .layer(metrics.clone())
        .layer(CacheLayer::new(CacheConfig::default()))
        .layer(prefix.clone())
        .service(HyperConnector::builder().build().unwrap());
    let workflow = AgentWorkflow::default();
    let streamed = |call| {
        let mut body: serde_json::Value =
            serde_json::from_str(&workflow.openai_chat("gpt-4o", call)).unwrap();
        body["stream"] = true.into();
        body["stream_options"] = serde_json::json!({"include_usage": true});
        body.to_string()
    };
    let mut outcomes = Vec::new();
    for call in [0, 1, 1] {
        let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
            .header("authorization", "Bearer sk-stack")
            .body(Full::new(Bytes::from(streamed(call))))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        outcomes.push(
            response.headers()["x-llm-cache"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.ends_with(b"data: [DONE]\n\n"));
    }
    assert_eq!(outcomes, ["MISS", "MISS", "HIT"]);
    assert_eq!(mock.stats().requests_total, 2);

    let rows = prefix.stats().snapshot();
    assert_eq!(rows.len(), 1, "both workflow calls share one static prefix");
    let row = &rows[0];
    assert_eq!((row.requests, row.responses_with_usage), (2, 2));
    assert!(
        row.cached_tokens as f64 >= 0.9 * row.estimated_prefix_tokens as f64,
        "the second call read the prefix from the provider's cache: {row:?}"
    );
    let model = &metrics.stats().snapshot().by_model["gpt-4o"];
    assert_eq!(model.calls, 3);
    assert_eq!(
        model.tokens_by_kind.cache_read, row.cached_tokens,
        "metrics and the prefix layer read the same stream usage"
    );
}

/// `LlmStack` with some layers off: the ones on still work, the others are
/// absent (not merely idle).
#[tokio::test]
async fn llm_stack_layers_are_optional() {
    use llm_layers::stack::{full_body, LlmStack};

    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let stack = LlmStack::bare().with_cache(CacheLayer::new(CacheConfig::default()));
    assert!(stack.metrics().is_none() && stack.prefix().is_none());
    let client = stack.clone().over_connector().unwrap();
    let body = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"Now 2026-11-23T10:00:00Z\nRules."},{"role":"user","content":"hi"}]}"#;
    for expected in ["MISS", "HIT"] {
        let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
            .header("authorization", "Bearer sk-optional")
            .body(full_body(body))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.headers()["x-llm-cache"], expected);
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(
        mock.recent_requests()[0].body,
        body.as_bytes(),
        "no prefix layer: the request went out as written"
    );
    assert_eq!(stack.cache().unwrap().stats().hits, 1);
}

/// Every combination of layers `LlmStack` composes (each is its own static
/// type): the layers on do their work, the ones off leave no trace, and the
/// answer always arrives whole.
#[tokio::test]
async fn every_combination_of_layers_composes_and_works() {
    use llm_layers::batch::{BatchConfig, EmbeddingsBatchLayer};
    use llm_layers::prefix::{PrefixConfig, PromptPrefixLayer};
    use llm_layers::resilience::{CircuitBreakerLayer, RateLimitLayer, RetryLayer};
    use llm_layers::stack::{full_body, LlmStack};
    use std::time::Duration;

    let body = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"Now 2026-11-23T10:00:00Z\nRules."},{"role":"user","content":"hi"}]}"#;
    for combination in 0..128u8 {
        let (metrics_on, cache_on, prefix_on, retry_on, breaker_on, rate_limit_on) = (
            combination & 1 != 0,
            combination & 2 != 0,
            combination & 4 != 0,
            combination & 8 != 0,
            combination & 16 != 0,
            combination & 32 != 0,
        );
        let batch_on = combination & 64 != 0;
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let stack = LlmStack::bare()
            .with_metrics(metrics_on.then(|| MetricsLayer::new(MetricsConfig::default())))
            .with_cache(cache_on.then(|| CacheLayer::new(CacheConfig::default())))
            // The body is short: rewritten only when asked to be.
            .with_prefix(prefix_on.then(|| {
                PromptPrefixLayer::new(PrefixConfig::default().rewrite_short_requests(true))
            }))
            .with_retry(retry_on.then(RetryLayer::default))
            .with_breaker(breaker_on.then(CircuitBreakerLayer::default))
            .with_rate_limit(rate_limit_on.then(RateLimitLayer::default))
            .with_batch(batch_on.then(|| {
                // A window long enough for two concurrent calls on a loaded machine.
                EmbeddingsBatchLayer::new(BatchConfig::default().window(Duration::from_millis(100)))
            }));
        let client = stack.clone().over_connector().unwrap();
        let mut answers = Vec::new();
        for call in 0..2 {
            let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
                .header("authorization", "Bearer sk-combination")
                .body(full_body(body))
                .unwrap();
            let response = client.clone().oneshot(request).await.unwrap();
            assert!(response.status().is_success());
            let outcome = response.headers().get("x-llm-cache").cloned();
            match (cache_on, call) {
                (false, _) => assert_eq!(outcome, None, "{combination:06b}"),
                (true, 0) => assert_eq!(outcome.unwrap(), "MISS", "{combination:06b}"),
                (true, _) => assert_eq!(outcome.unwrap(), "HIT", "{combination:06b}"),
            }
            let attempts = response.headers().get("x-llm-attempts").cloned();
            // Per-call headers reach the caller who made the call, not hits.
            let upstream_answered = call == 0 || !cache_on;
            assert_eq!(
                attempts.is_some(),
                retry_on && upstream_answered,
                "{combination:06b}: x-llm-attempts"
            );
            answers.push(response.into_body().collect().await.unwrap().to_bytes());
        }
        assert_eq!(answers[0], answers[1], "{combination:06b}");
        let answer: serde_json::Value = serde_json::from_slice(&answers[0]).unwrap();
        assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        let upstream_calls = if cache_on { 1 } else { 2 };
        assert_eq!(
            mock.stats().requests_total,
            upstream_calls,
            "{combination:06b}"
        );
        let sent_as_written = mock.recent_requests()[0].body == body.as_bytes();
        assert_eq!(
            sent_as_written, !prefix_on,
            "{combination:06b}: prefix repair"
        );
        let calls = stack
            .metrics()
            .map(|metrics| metrics.stats().snapshot().total_calls);
        assert_eq!(calls, metrics_on.then_some(2), "{combination:06b}");
        let breakers = stack.breaker().map(|breaker| breaker.snapshot().len());
        let expected = breaker_on.then_some(1);
        assert_eq!(
            breakers, expected,
            "{combination:06b}: one breaker, for gpt-4o"
        );
        // Two concurrent embeddings calls: one upstream request with the batch layer.
        let embed = |text: &str| {
            let body = format!(r#"{{"model":"text-embedding-3-small","input":"{text}"}}"#);
            let request = http::Request::post(format!("{}/v1/embeddings", mock.base_url()))
                .header("authorization", "Bearer sk-combination")
                .body(full_body(body))
                .unwrap();
            client.clone().oneshot(request)
        };
        let (a, b) = tokio::join!(embed("left"), embed("right"));
        for response in [a.unwrap(), b.unwrap()] {
            assert!(response.status().is_success(), "{combination:07b}");
            let answer = response.into_body().collect().await.unwrap().to_bytes();
            let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            assert_eq!(
                answer["data"].as_array().unwrap().len(),
                1,
                "{combination:07b}"
            );
        }
        let embeddings = mock.stats().requests_to("/v1/embeddings");
        assert_eq!(
            embeddings,
            if batch_on { 1 } else { 2 },
            "{combination:07b}: batching"
        );
    }
}

/// The stack buffers a request once, at the top, with its own limit: a
/// layer's own limit does not apply inside the stack.
#[tokio::test]
async fn the_stack_has_one_request_buffering_limit() {
    use llm_layers::stack::{full_body, LlmStack};

    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let padded = format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(2048)
    );
    // The cache alone would not buffer 2 KiB; in a stack of 1 MiB it does.
    let small_cache = || CacheLayer::new(CacheConfig::default().max_request_bytes(1024));
    for (stack_limit, expected) in [(1 << 20, ["MISS", "HIT"]), (1024, ["BYPASS", "BYPASS"])] {
        let stack = LlmStack::bare()
            .with_cache(small_cache())
            .with_max_request_bytes(stack_limit);
        let client = stack.over_connector().unwrap();
        for outcome in expected {
            let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
                .header("authorization", "Bearer sk-limit")
                .body(full_body(padded.clone()))
                .unwrap();
            let response = client.clone().oneshot(request).await.unwrap();
            assert_eq!(
                response.headers()["x-llm-cache"],
                outcome,
                "stack limit {stack_limit}"
            );
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert!(!body.is_empty());
        }
    }
}
