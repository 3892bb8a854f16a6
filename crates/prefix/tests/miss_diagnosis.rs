//! Why the provider's prompt cache missed: against the mock's emulated
//! OpenAI cache, a request whose cached tokens fall well below the previous
//! one's is reported with the first element that changed (never content),
//! and a prefix that did not change as `unchanged` (the entry expired).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_mock::testing::recorded;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_prefix::PromptPrefixLayer;
use serde_json::json;
use tower::{Layer, ServiceExt};

fn body(second_tool: &str, question: &str) -> String {
    json!({
        "model": "gpt-4o",
        "tools": [
            {"type": "function", "function": {"name": "first", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": second_tool, "parameters": {"type": "object"}}}
        ],
        "messages": [
            {"role": "system", "content": "Follow the workflow rules. ".repeat(400)},
            {"role": "user", "content": question}
        ]
    })
    .to_string()
}

async fn send(layer: &PromptPrefixLayer, mock: &MockServer, body: String) {
    let client = layer.layer(HyperConnector::builder().build().unwrap());
    let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", "Bearer sk-diagnosis")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();
}

#[test]
fn a_changed_tool_and_an_expired_entry_are_told_apart() {
    let (misses, seen) = recorded(|| async {
        let mock =
            MockServer::start(MockConfig::default().prompt_cache_ttl(Duration::from_millis(300)))
                .await
                .unwrap();
        let layer = PromptPrefixLayer::default();
        send(&layer, &mock, body("second", "one")).await; // writes the cache
        send(&layer, &mock, body("second", "two")).await; // reads it
        assert!(layer.stats().misses().is_empty(), "no miss yet");
        send(&layer, &mock, body("renamed", "three")).await; // a tool changed
        send(&layer, &mock, body("renamed", "four")).await; // reads again
        tokio::time::sleep(Duration::from_millis(400)).await;
        send(&layer, &mock, body("renamed", "five")).await; // expired
        layer.stats().misses()
    });
    assert_eq!(misses.len(), 2, "{misses:?}");
    let tool = &misses[0];
    assert_eq!(
        (tool.element, tool.index, tool.model.as_str()),
        ("tool", 1, "gpt-4o")
    );
    let first_tool =
        r#"{"function":{"name":"first","parameters":{"type":"object"}},"type":"function"}"#.len();
    assert_eq!(
        tool.byte_offset, first_tool,
        "the bytes before it: the first tool, keys sorted"
    );
    assert_eq!(tool.token_position, (first_tool as u64).div_ceil(4));
    assert!(
        tool.cached_before >= 1024 && tool.cached_now == 0,
        "{tool:?}"
    );
    assert_eq!(misses[1].element, "unchanged");
    assert_eq!(
        seen.counter(
            "llm_prefix_cache_miss_explained_total",
            &[("element", "tool")]
        ),
        1
    );
    assert_eq!(
        seen.counter(
            "llm_prefix_cache_miss_explained_total",
            &[("element", "unchanged")]
        ),
        1
    );
    let debug = format!("{misses:?}");
    assert!(
        !debug.contains("workflow rules") && !debug.contains("renamed"),
        "never content"
    );
}
