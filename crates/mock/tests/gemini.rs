//! The mock's Gemini API over real TCP: plain, streamed as a JSON array
//! and as SSE, usage the core reads, implicit caching per key, errors in
//! Google's shape.

mod common;

use common::*;
use llm_layers_core::{ApiKind, SseParser, StreamCompletion, UsageTracker};
use llm_layers_mock::{MockConfig, MockServer};

const PATH: &str = "/v1beta/models/gemini-2.5-flash";

fn request(system: &str, text: &str) -> String {
    serde_json::json!({
        "systemInstruction": {"parts": [{"text": system}]},
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {"maxOutputTokens": 40}
    })
    .to_string()
}

fn usage(body: &[u8]) -> llm_layers_core::usage::Usage {
    llm_layers_core::usage::usage_from_json(ApiKind::GeminiGenerateContent, body).unwrap()
}

#[tokio::test]
async fn generate_content_plain_array_and_sse_agree() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let body = request("You are terse.", "Say hi");
    let key = [("x-goog-api-key", "AIza-test")];
    let plain = post(
        &client,
        &server,
        &format!("{PATH}:generateContent"),
        &key,
        &body,
    )
    .await;
    assert_eq!(plain.status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&plain.body).unwrap();
    assert_eq!(answer["candidates"][0]["finishReason"], "STOP");
    assert_eq!(answer["modelVersion"], "gemini-2.5-flash");
    let plain_usage = usage(&plain.body);
    assert!(plain_usage.input_tokens > 0 && plain_usage.output_tokens > 0);

    let array = post(
        &client,
        &server,
        &format!("{PATH}:streamGenerateContent"),
        &key,
        &body,
    )
    .await;
    let chunks: Vec<serde_json::Value> = serde_json::from_slice(&array.body).unwrap();
    assert!(chunks.len() > 1);
    assert_eq!(usage(&array.body), plain_usage);

    let sse = post(
        &client,
        &server,
        &format!("{PATH}:streamGenerateContent?alt=sse"),
        &key,
        &body,
    )
    .await;
    assert!(sse.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut tracker = UsageTracker::new(ApiKind::GeminiGenerateContent);
    SseParser::new().feed(&sse.body, |event| tracker.observe(event));
    assert_eq!(tracker.completion(), StreamCompletion::Completed);
    assert_eq!(tracker.usage(), Some(&plain_usage));
}

#[tokio::test]
async fn implicit_caching_serves_a_repeated_long_prefix_per_key() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    // About 2,000 tokens of instructions (4 bytes a token), above Flash's 1,024.
    let system = "Follow the workflow rules exactly. ".repeat(230);
    let url = format!("{PATH}:generateContent");
    let first = post(
        &client,
        &server,
        &url,
        &[("x-goog-api-key", "AIza-a")],
        &request(&system, "one"),
    )
    .await;
    assert_eq!(usage(&first.body).cache_read_tokens, 0);
    let second = post(
        &client,
        &server,
        &url,
        &[("x-goog-api-key", "AIza-a")],
        &request(&system, "two"),
    )
    .await;
    let cached = usage(&second.body).cache_read_tokens;
    assert!(
        cached >= 1024,
        "the shared prefix is served from the cache: {cached}"
    );
    // The key in the query, another key: its own cache.
    let other = post(
        &client,
        &server,
        &format!("{url}?key=AIza-b"),
        &[],
        &request(&system, "three"),
    )
    .await;
    assert_eq!(usage(&other.body).cache_read_tokens, 0);
}

#[tokio::test]
async fn errors_come_in_googles_shape() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let bad = post(
        &client,
        &server,
        &format!("{PATH}:generateContent"),
        &[],
        "{\"contents\": []}",
    )
    .await;
    assert_eq!(bad.status, 400);
    let error: serde_json::Value = serde_json::from_slice(&bad.body).unwrap();
    assert_eq!(error["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(error["error"]["code"], 400);
    let limited = post(
        &client,
        &server,
        &format!("{PATH}:generateContent"),
        &[("x-mock-fault", "429")],
        &request("s", "t"),
    )
    .await;
    assert_eq!(limited.status, 429);
    let error: serde_json::Value = serde_json::from_slice(&limited.body).unwrap();
    assert_eq!(error["error"]["status"], "RESOURCE_EXHAUSTED");
}
