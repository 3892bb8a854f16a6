//! Upstreams given as base URLs with a path (and a query): a gateway
//! serving providers under prefixes, and an Azure OpenAI deployment.

use bytes::Bytes;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};

mod common;

async fn proxy(config: ProxyConfig) -> RunningProxy {
    start(config.listen("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap()
}

async fn post(
    proxy: &RunningProxy,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> common::Answer {
    let url = format!("{}{path}", proxy.url());
    common::request(false, "POST", &url, headers, Bytes::from(body.to_owned()))
        .await
        .unwrap()
}

fn recorded_paths(mock: &MockServer) -> Vec<String> {
    mock.recent_requests().into_iter().map(|r| r.path).collect()
}

#[tokio::test]
async fn a_gateway_base_path_is_kept_before_the_request_path() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(
        ProxyConfig::default()
            .upstream(format!("{}/openai/", mock.base_url()))
            .anthropic_upstream(Some(format!("{}/anthropic", mock.base_url()))),
    )
    .await;
    let chat = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    let openai = post(
        &proxy,
        "/v1/chat/completions?trace=1",
        &[("authorization", "Bearer sk-g")],
        chat,
    )
    .await;
    assert_eq!(openai.status, 200);
    let message = r#"{"model":"claude-sonnet-4-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}"#;
    let anthropic = post(
        &proxy,
        "/anthropic/v1/messages",
        &[("x-api-key", "sk-ant")],
        message,
    )
    .await;
    assert_eq!(anthropic.status, 200);
    let again = post(
        &proxy,
        "/anthropic/v1/messages",
        &[("x-api-key", "sk-ant")],
        message,
    )
    .await;
    assert_eq!(
        again.headers["x-llm-cache"], "HIT",
        "a base path does not stop caching"
    );
    assert_eq!(
        recorded_paths(&mock),
        [
            "/openai/v1/chat/completions?trace=1",
            "/anthropic/v1/messages"
        ]
    );
}

#[tokio::test]
async fn an_azure_deployment_is_cached_by_its_deployment_key_and_api_version() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // The base query comes first, the client's own after it.
    let upstream = format!("{}/openai/deployments/gpt4o?tenant=t1", mock.base_url());
    let proxy = proxy(ProxyConfig::default().upstream(upstream)).await;
    // Azure bodies name no model: the deployment does.
    let chat = r#"{"messages":[{"role":"user","content":"azure"}]}"#;
    let (current, older) = (
        "/chat/completions?api-version=2024-10-21",
        "/chat/completions?api-version=2024-06-01",
    );
    let key_a = [("api-key", "azure-key-a")];
    let first = post(&proxy, current, &key_a, chat).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers["x-llm-cache"], "MISS");
    let answer: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(answer["model"], "gpt4o");
    let repeat = post(&proxy, current, &key_a, chat).await;
    assert_eq!(
        repeat.headers["x-llm-cache"], "HIT",
        "cached with no model in the body"
    );
    let other_key = post(&proxy, current, &[("api-key", "azure-key-b")], chat).await;
    assert_eq!(
        other_key.headers["x-llm-cache"], "MISS",
        "api-key partitions the cache"
    );
    let other_version = post(&proxy, older, &key_a, chat).await;
    assert_eq!(
        other_version.headers["x-llm-cache"], "MISS",
        "so does api-version"
    );
    let base = "/openai/deployments/gpt4o/chat/completions?tenant=t1&api-version=";
    assert_eq!(
        recorded_paths(&mock),
        [
            format!("{base}2024-10-21"),
            format!("{base}2024-10-21"),
            format!("{base}2024-06-01"),
        ]
    );
}
