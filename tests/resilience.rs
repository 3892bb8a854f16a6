//! The resilience layers inside `LlmStack`, against the mock on loopback:
//! a retry below the cache and the prompt-prefix layer resends the
//! rewritten body, and the cache stores only the final answer.

use std::time::Duration;

use http_body_util::BodyExt;
use llm_layers::resilience::{RetryLayer, RetryPolicy};
use llm_layers::stack::{full_body, LlmStack};
use llm_layers_mock::{MockConfig, MockServer};
use tower::ServiceExt;

#[tokio::test]
async fn a_retry_under_the_cache_and_prefix_resends_the_rewritten_body() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let stack = LlmStack::new().with_retry(RetryLayer::new(
        RetryPolicy::default().base_delay(Duration::from_millis(10)),
    ));
    let client = stack.clone().over_connector().unwrap();
    // A date in the system text: the prefix layer moves it behind the
    // static part, so the bytes sent differ from the bytes written.
    // Long enough for a provider's cache, or the layer leaves it alone.
    let rules = "Rules. ".repeat(400);
    let body = serde_json::json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": format!("Now 2026-11-23T10:00:00Z\n{rules}")},
        {"role": "user", "content": "retry me"}]})
    .to_string();
    let mut answers = Vec::new();
    for expected in ["MISS", "HIT"] {
        let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
            .header("authorization", "Bearer sk-retry")
            .header("x-mock-fault", "503")
            .header("x-mock-fault-times", "1")
            .body(full_body(body.clone()))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-llm-cache"], expected);
        answers.push(response.into_body().collect().await.unwrap().to_bytes());
    }
    assert_eq!(answers[0], answers[1]);
    let sent = mock.recent_requests();
    assert_eq!(sent.len(), 2, "one failed attempt, one retry, then a hit");
    assert_eq!(
        sent[0].body, sent[1].body,
        "the retry resent the same bytes"
    );
    assert_ne!(sent[1].body, body.as_bytes(), "the rewritten ones");
    let cache = stack.cache().unwrap().stats();
    assert_eq!(cache.stores, 1, "only the final answer was stored");
    assert!(cache.not_stored.is_empty(), "{:?}", cache.not_stored);
}
