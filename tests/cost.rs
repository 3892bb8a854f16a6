//! What calls cost and what the caches saved, through the stack against
//! the mock: dollars from the provider's usage and the price table, in the
//! metrics (the real `metrics` recorder) and the stats snapshot.

use http_body_util::BodyExt;
use llm_layers::core::usage::token_usage_from_json;
use llm_layers::core::ApiKind;
use llm_layers::metrics::{MetricsConfig, MetricsLayer, ModelPrice, PriceTable};
use llm_layers::stack::{full_body, LlmStack, StackService};
use llm_layers_mock::testing::recorded;
use llm_layers_mock::{MockConfig, MockServer};
use tower::ServiceExt;

async fn chat(
    client: &StackService,
    mock: &MockServer,
    model: &str,
    system: &str,
) -> (String, bytes::Bytes) {
    let body = serde_json::json!({"model": model, "messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": "What now?"}
    ]});
    let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", "Bearer sk-cost")
        .body(full_body(body.to_string()))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    let outcome = response.headers()["x-llm-cache"]
        .to_str()
        .unwrap()
        .to_owned();
    (
        outcome,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[test]
fn spend_response_cache_and_prompt_cache_savings_and_unpriced_calls() {
    let price = ModelPrice::default()
        .input(2.0)
        .output(8.0)
        .cache_read(Some(0.5));
    let prices = PriceTable::empty().with("priced-model", price);
    let ((first, cost_snapshot), seen) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let stack = LlmStack::new()
            .with_prefix(None)
            .with_metrics(MetricsLayer::new(MetricsConfig::default().prices(prices)));
        let client = stack.clone().over_connector().unwrap();
        // ~1,500 tokens of system prompt: the provider caches it from the second call.
        let long = "Follow the rules of the workflow. ".repeat(180);
        let (outcome, first) = chat(&client, &mock, "priced-model", &long).await;
        assert_eq!(outcome, "MISS");
        let (outcome, _) = chat(&client, &mock, "priced-model", &long).await;
        assert_eq!(outcome, "HIT");
        let other_system = format!("{long} And be brief.");
        let (_, third) = chat(&client, &mock, "priced-model", &other_system).await;
        let (_, _) = chat(&client, &mock, "model-with-no-price", "short").await;
        let third_usage = token_usage_from_json(ApiKind::OpenAiChat, &third).unwrap();
        assert!(
            third_usage.cache_read_tokens >= 1024,
            "the provider cached the prefix"
        );
        ((first, third), stack.metrics().unwrap().stats().snapshot())
    });
    let (first, third) = first;
    let usage = |body: &bytes::Bytes| token_usage_from_json(ApiKind::OpenAiChat, body).unwrap();
    let (a, c) = (usage(&first), usage(&third));
    let dollars = |u: &llm_layers::core::Usage| {
        let plain = u.input_tokens - u.cache_read_tokens;
        (plain as f64 * 2.0 + u.cache_read_tokens as f64 * 0.5 + u.output_tokens as f64 * 8.0) / 1e6
    };
    let spent = dollars(&a) + dollars(&c);
    let model = &cost_snapshot.by_model["priced-model"];
    assert!(
        (model.cost_usd - spent).abs() < 1e-12,
        "{} vs {spent}",
        model.cost_usd
    );
    assert!(
        (model.cost_saved_usd.response_cache - dollars(&a)).abs() < 1e-12,
        "the hit saved the first call's cost"
    );
    let prompt_saved = c.cache_read_tokens as f64 * 1.5 / 1e6;
    assert!((model.cost_saved_usd.prompt_cache - prompt_saved).abs() < 1e-12);
    assert_eq!(model.unpriced_calls, 0);
    let unpriced = &cost_snapshot.by_model["model-with-no-price"];
    assert_eq!((unpriced.unpriced_calls, unpriced.cost_usd), (1, 0.0));
    assert!((cost_snapshot.total_cost_usd - spent).abs() < 1e-12);

    let labels = [("model", "priced-model")];
    assert!((seen.gauge("llm_cost_usd_total", &labels) - spent).abs() < 1e-12);
    let by = |by: &str| {
        seen.gauge(
            "llm_cost_saved_usd_total",
            &[("model", "priced-model"), ("by", by)],
        )
    };
    assert!((by("response_cache") - dollars(&a)).abs() < 1e-12);
    assert!((by("prompt_cache") - prompt_saved).abs() < 1e-12);
    assert_eq!(
        seen.counter(
            "llm_cost_unpriced_calls_total",
            &[("model", "model-with-no-price")]
        ),
        1
    );
}
