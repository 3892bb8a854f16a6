//! What the umbrella crate's test files share: a chat call through a built
//! stack, and the alerts firing.
#![allow(dead_code)]

use http_body_util::BodyExt;
use llm_layers::metrics::AlertKind;
use llm_layers::stack::{full_body, LlmStack, StackService};
use llm_layers_mock::MockServer;
use tower::ServiceExt;

/// A gpt-4o-mini chat call with `text`, read whole; its status.
pub async fn chat(client: &StackService, mock: &MockServer, text: &str) -> u16 {
    let body =
        format!(r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"{text}"}}]}}"#);
    let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", "Bearer sk-alerts")
        .body(full_body(body))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

/// The kinds of the alerts firing now.
pub fn firing(stack: &LlmStack) -> Vec<AlertKind> {
    let snapshot = stack.metrics().unwrap().stats().snapshot();
    snapshot.alerts.iter().map(|alert| alert.kind).collect()
}
