//! Request headers that change the answer or its owner split the cache:
//! Anthropic's version and beta features join the key; OpenAI's
//! organization and project, and Gemini's API key (header or `key=`
//! query parameter), join the credential partition.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{CacheConfig, CacheLayer};
use llm_layers_connector::HyperConnector;
use llm_layers_mock::raw::{head, RawUpstream, Step};
use tower::{Layer, ServiceExt};

const ANSWER: &str = r#"{"id":"x","content":[],"usage":{"input_tokens":1,"output_tokens":1}}"#;

async fn upstream() -> RawUpstream {
    RawUpstream::start(vec![
        Step::write(head(
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", &ANSWER.len().to_string()),
            ],
        )),
        Step::write(ANSWER),
    ])
    .await
    .unwrap()
}

/// Sends each header set once, in order, through one cache; returns the
/// `x-llm-cache` of each.
async fn outcomes(
    path_and_query: &str,
    body: &'static str,
    requests: &[&[(&str, &str)]],
    share_across_credentials: bool,
) -> Vec<String> {
    let upstream = upstream().await;
    let layer =
        CacheLayer::new(CacheConfig::default().share_across_credentials(share_across_credentials));
    let client = layer.layer(HyperConnector::builder().build().unwrap());
    let mut seen = Vec::new();
    for headers in requests {
        let mut request = http::Request::post(format!("{}{path_and_query}", upstream.base_url()));
        for (name, value) in *headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        seen.push(
            response.headers()["x-llm-cache"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        response.into_body().collect().await.unwrap();
    }
    seen
}

const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
const GEMINI: &str = r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;

#[tokio::test]
async fn anthropic_version_and_beta_join_the_key_even_when_sharing_across_credentials() {
    let key = ("x-api-key", "sk-ant");
    let requests: [&[(&str, &str)]; 5] = [
        &[key, ("anthropic-version", "2023-06-01")],
        &[key, ("anthropic-version", "2023-06-01")],
        &[key, ("anthropic-version", "2024-01-01")],
        &[
            key,
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "prompt-caching-2024-07-31"),
        ],
        &[
            ("x-api-key", "sk-other"),
            ("anthropic-version", "2024-01-01"),
        ],
    ];
    let seen = outcomes("/v1/messages", MESSAGES, &requests, true).await;
    assert_eq!(seen, ["MISS", "HIT", "MISS", "MISS", "HIT"]);
}

#[tokio::test]
async fn openai_organization_and_project_join_the_partition() {
    let key = ("authorization", "Bearer sk-shared");
    let requests: [&[(&str, &str)]; 5] = [
        &[key, ("openai-project", "proj_a")],
        &[key, ("openai-project", "proj_a")],
        &[key, ("openai-project", "proj_b")],
        &[
            key,
            ("openai-organization", "org_x"),
            ("openai-project", "proj_a"),
        ],
        &[key],
    ];
    let seen = outcomes("/v1/chat/completions", CHAT, &requests, false).await;
    assert_eq!(seen, ["MISS", "HIT", "MISS", "MISS", "MISS"]);
}

#[tokio::test]
async fn gemini_keys_partition_by_header_and_by_query_parameter() {
    let path = "/v1beta/models/gemini-2.0-flash:generateContent";
    let requests: [&[(&str, &str)]; 3] = [
        &[("x-goog-api-key", "AIza-one")],
        &[("x-goog-api-key", "AIza-one")],
        &[("x-goog-api-key", "AIza-two")],
    ];
    let seen = outcomes(path, GEMINI, &requests, false).await;
    assert_eq!(seen, ["MISS", "HIT", "MISS"]);
    // The key in the query: the same key hits, another misses.
    let upstream = upstream().await;
    let layer = CacheLayer::new(CacheConfig::default());
    let client = layer.layer(HyperConnector::builder().build().unwrap());
    let mut seen = Vec::new();
    for key in ["AIza-one", "AIza-one", "AIza-two"] {
        let request = http::Request::post(format!("{}{path}?key={key}", upstream.base_url()))
            .body(Full::new(Bytes::from_static(GEMINI.as_bytes())))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        seen.push(
            response.headers()["x-llm-cache"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(seen, ["MISS", "HIT", "MISS"]);
    assert_eq!(upstream.requests(), 2);
}
