//! The prompt-cache alert against the mock's emulated OpenAI cache: a long
//! prefix the provider never serves from its cache fires it (per prefix,
//! the gauge counting prefixes per model); a prefix served well does not.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_mock::testing::recorded;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_prefix::{CacheRatioAlert, PrefixConfig, PromptPrefixLayer};
use serde_json::json;
use tower::{Layer, ServiceExt};

async fn send(layer: &PromptPrefixLayer, mock: &MockServer, model: &str, system: String) {
    let body = json!({"model": model, "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": "go"}]});
    let client = layer.layer(HyperConnector::builder().build().unwrap());
    let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", "Bearer sk-ratio")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    client
        .oneshot(request)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
}

#[test]
fn a_prefix_the_provider_never_caches_fires_and_a_cached_one_does_not() {
    let (alerts, seen) = recorded(|| async {
        // One provider keeps its cache entries for a millisecond: the same
        // prefix is never served from its cache. The other caches.
        let forgetful =
            MockServer::start(MockConfig::default().prompt_cache_ttl(Duration::from_millis(1)))
                .await
                .unwrap();
        let caching = MockServer::start(MockConfig::default()).await.unwrap();
        let config = PrefixConfig::default()
            .cache_ratio_alert(Some(CacheRatioAlert::default().min_responses(5)));
        let layer = PromptPrefixLayer::new(config);
        let rules = "Follow the workflow rules. ".repeat(300);
        for _ in 0..6 {
            send(&layer, &forgetful, "gpt-4o", rules.clone()).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            send(&layer, &caching, "gpt-4o-mini", rules.clone()).await;
        }
        layer.stats().alerts()
    });
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].model, "gpt-4o");
    assert!(alerts[0].ratio < 0.5);
    assert_eq!(
        seen.gauge(
            "llm_alert",
            &[("kind", "prompt_cache_ratio"), ("model", "gpt-4o")]
        ),
        1.0
    );
    assert!(seen
        .find("llm_alert", &[("model", "gpt-4o-mini")])
        .is_empty());
}
