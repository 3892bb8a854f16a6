//! The emulated provider prompt caches, seen through the API's usage.

mod common;

use common::*;
use llm_layers_mock::{MockConfig, MockServer};
use serde_json::json;

async fn cached_tokens(server: &MockServer, body: &str, key: &str) -> (u64, u64) {
    let reply = post(
        &http1(),
        server,
        "/v1/chat/completions",
        &[("authorization", key)],
        body,
    )
    .await;
    let usage = &reply.json()["usage"];
    (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap(),
    )
}

#[tokio::test]
async fn openai_stable_prefixes_hit_from_the_second_call() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let system = long_text(2800);
    let (prompt, first) =
        cached_tokens(&server, &chat_body(&system, "task 1", false), "Bearer k").await;
    assert!(prompt >= 2800);
    assert_eq!(first, 0);
    let (_, second) =
        cached_tokens(&server, &chat_body(&system, "task 2", false), "Bearer k").await;
    assert!(second >= 2800 - 128 && second % 128 == 0, "{second}");
    let (_, other_key) = cached_tokens(
        &server,
        &chat_body(&system, "task 3", false),
        "Bearer other",
    )
    .await;
    assert_eq!(other_key, 0, "caches are per credential");
}

#[tokio::test]
async fn openai_volatile_text_at_the_top_breaks_the_cache() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let system = long_text(2800);
    cached_tokens(
        &server,
        &chat_body(&format!("Now: 12:00:01\n{system}"), "task", false),
        "Bearer k",
    )
    .await;
    let (_, cached) = cached_tokens(
        &server,
        &chat_body(&format!("Now: 12:00:02\n{system}"), "task", false),
        "Bearer k",
    )
    .await;
    assert_eq!(cached, 0);
}

#[tokio::test]
async fn openai_message_key_order_does_not_matter_but_tool_key_order_does() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let system = long_text(1500);
    let tool_a =
        json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}});
    let tool_b = r#"{"function":{"parameters":{"type":"object"},"name":"f"},"type":"function"}"#;
    let body = |tool: &str, role_first: bool| {
        let message = if role_first {
            format!(r#"{{"role":"system","content":{}}}"#, json!(system))
        } else {
            format!(r#"{{"content":{},"role":"system"}}"#, json!(system))
        };
        format!(
            r#"{{"model":"gpt-4o","tools":[{tool}],"messages":[{message},{{"role":"user","content":"x"}}]}}"#
        )
    };
    cached_tokens(&server, &body(&tool_a.to_string(), true), "Bearer k").await;
    let (_, reordered_message) =
        cached_tokens(&server, &body(&tool_a.to_string(), false), "Bearer k").await;
    assert!(reordered_message >= 1024);
    let (_, reordered_tool) = cached_tokens(&server, &body(tool_b, true), "Bearer k").await;
    assert_eq!(reordered_tool, 0, "tool JSON counts as sent");
}

#[tokio::test]
async fn anthropic_breakpoints_write_then_read() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let system = long_text(2800);
    let body = |task: &str, breakpoint: bool| {
        let mut block = json!({"type": "text", "text": system});
        if breakpoint {
            block["cache_control"] = json!({"type": "ephemeral"});
        }
        json!({
            "model": "claude-sonnet-4-5", "max_tokens": 32,
            "system": [block],
            "messages": [{"role": "user", "content": task}]
        })
        .to_string()
    };
    let usage = |reply: Reply| {
        let usage = reply.json()["usage"].clone();
        (
            usage["input_tokens"].as_u64().unwrap(),
            usage["cache_creation_input_tokens"].as_u64().unwrap(),
            usage["cache_read_input_tokens"].as_u64().unwrap(),
        )
    };
    let client = http1();
    let (_, written, read) = usage(
        post(
            &client,
            &server,
            "/v1/messages",
            &[],
            &body("task 1", false),
        )
        .await,
    );
    assert_eq!((written, read), (0, 0), "no breakpoint, no caching");
    let (plain, written, read) =
        usage(post(&client, &server, "/v1/messages", &[], &body("task 1", true)).await);
    assert!(
        written >= 2800 && read == 0 && plain < 20,
        "{plain} {written} {read}"
    );
    let (_, written_again, read) =
        usage(post(&client, &server, "/v1/messages", &[], &body("task 2", true)).await);
    assert_eq!((written_again, read), (0, written));
    let five = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 8,
        "system": [
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "c", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "d", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "e", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": "x"}]
    });
    let refused = post(&client, &server, "/v1/messages", &[], &five.to_string()).await;
    assert_eq!(refused.status, 400);
}
