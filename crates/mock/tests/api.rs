//! The mock speaks the providers' APIs over real TCP on loopback.

mod common;

use common::*;
use llm_layers_core::{ApiKind, SseParser, StreamCompletion, UsageTracker};
use llm_layers_mock::{MockConfig, MockServer};

fn events(body: &[u8]) -> Vec<llm_layers_core::SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    parser.feed(body, |event| events.push(event.clone()));
    events
}

fn stream_usage(kind: ApiKind, body: &[u8]) -> UsageTracker {
    let mut tracker = UsageTracker::new(kind);
    for event in events(body) {
        tracker.observe(&event);
    }
    tracker
}

/// The streamed answer ended normally and reports the plain answer's usage.
fn assert_stream_matches_plain(kind: ApiKind, plain: &Reply, streamed: &Reply) {
    let tracker = stream_usage(kind, &streamed.body);
    assert_eq!(tracker.completion(), StreamCompletion::Completed);
    let plain_usage = llm_layers_core::usage::usage_from_json(kind, &plain.body);
    assert!(plain_usage.is_some());
    assert_eq!(tracker.usage(), plain_usage.as_ref());
}

#[tokio::test]
async fn equal_chat_requests_get_byte_identical_answers() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let body = chat_body("You are terse.", "Say hi", false);
    let first = post(&client, &server, "/v1/chat/completions", &[], &body).await;
    let second = post(&client, &server, "/v1/chat/completions", &[], &body).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, second.body);
    assert_eq!(first.headers["content-type"], "application/json");
    let json = first.json();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["model"], "gpt-4o");
    assert!(
        json["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len()
            > 3
    );
    let usage = llm_layers_core::usage::usage_from_json(ApiKind::OpenAiChat, &first.body).unwrap();
    assert!(usage.input_tokens > 0 && usage.output_tokens > 0);
    assert_ne!(
        first.headers["x-request-id"], second.headers["x-request-id"],
        "request ids differ per call, as a real provider's do"
    );
    let other = chat(&client, &server, "You are terse.", "Say ho", false).await;
    assert_ne!(other.body, first.body);
}

#[tokio::test]
async fn streamed_chat_carries_the_same_text_and_usage_in_the_last_chunk() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let plain = chat(&client, &server, "S", "U", false).await;
    let streamed = chat(&client, &server, "S", "U", true).await;
    assert_eq!(
        streamed.headers["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let events = events(&streamed.body);
    assert!(events.last().unwrap().is_done());
    let text: String = events
        .iter()
        .filter(|e| !e.is_done())
        .filter_map(|e| {
            let chunk: serde_json::Value = serde_json::from_str(&e.data).unwrap();
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, plain.json()["choices"][0]["message"]["content"]);
    assert_stream_matches_plain(ApiKind::OpenAiChat, &plain, &streamed);
}

#[tokio::test]
async fn anthropic_messages_plain_and_streamed() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let body = |stream: bool| {
        serde_json::json!({
            "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
        })
        .to_string()
    };
    let plain = post(&client, &server, "/v1/messages", &[], &body(false)).await;
    assert_eq!(plain.status, 200);
    let json = plain.json();
    assert_eq!(json["type"], "message");
    assert_eq!(json["stop_reason"], "end_turn");
    assert!(plain.headers.contains_key("request-id"));
    let streamed = post(&client, &server, "/v1/messages", &[], &body(true)).await;
    let names: Vec<String> = events(&streamed.body)
        .into_iter()
        .filter_map(|e| e.event)
        .collect();
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    assert_stream_matches_plain(ApiKind::AnthropicMessages, &plain, &streamed);
}

#[tokio::test]
async fn responses_and_embeddings() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let body = |stream: bool| {
        serde_json::json!({"model": "gpt-5", "instructions": "Be brief.", "input": "Hello", "stream": stream})
            .to_string()
    };
    let plain = post(&client, &server, "/v1/responses", &[], &body(false)).await;
    assert_eq!(plain.json()["status"], "completed");
    let streamed = post(&client, &server, "/v1/responses", &[], &body(true)).await;
    assert_stream_matches_plain(ApiKind::OpenAiResponses, &plain, &streamed);
    let embeddings = post(
        &client,
        &server,
        "/v1/embeddings",
        &[],
        r#"{"model":"text-embedding-3-small","input":["a","bb"],"dimensions":8}"#,
    )
    .await;
    let json = embeddings.json();
    assert_eq!(json["data"].as_array().unwrap().len(), 2);
    assert_eq!(json["data"][1]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(json["usage"]["prompt_tokens"], 2);
    let completions = post(
        &client,
        &server,
        "/v1/completions",
        &[],
        r#"{"model":"gpt-3.5-turbo-instruct","prompt":"Once"}"#,
    )
    .await;
    assert_eq!(completions.json()["object"], "text_completion");
}

#[tokio::test]
async fn bad_input_gets_provider_shaped_errors() {
    let config = MockConfig::default().max_body_bytes(1024);
    let server = MockServer::start(config).await.unwrap();
    let client = http1();
    let malformed = post(&client, &server, "/v1/chat/completions", &[], "{not json").await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["error"]["type"], "invalid_request_error");
    let anthropic = post(
        &client,
        &server,
        "/v1/messages",
        &[],
        r#"{"model":"claude-sonnet-4-5","messages":[]}"#,
    )
    .await;
    assert_eq!(anthropic.status, 400);
    assert_eq!(anthropic.json()["type"], "error");
    let unknown = post(&client, &server, "/v1/nothing", &[], "{}").await;
    assert_eq!(unknown.status, 404);
    let large = post(
        &client,
        &server,
        "/v1/chat/completions",
        &[],
        &"x".repeat(4096),
    )
    .await;
    assert_eq!(large.status, 413);
    let invalid_utf8 = send(
        &client,
        http::Request::post(format!("{}/v1/chat/completions", server.base_url()))
            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                b"{\"model\":\"\xff\"}",
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(invalid_utf8.status, 400);
}

#[tokio::test]
async fn stats_count_requests_per_path_and_connections_and_reset_zeroes_them() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    for _ in 0..3 {
        chat(&client, &server, "S", "U", false).await;
    }
    post(
        &client,
        &server,
        "/v1/embeddings",
        &[],
        r#"{"model":"e","input":"x"}"#,
    )
    .await;
    let stats_url = format!("{}/__mock/stats", server.base_url());
    let stats = send(
        &client,
        http::Request::get(&stats_url)
            .body(Default::default())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(stats["requests"]["/v1/chat/completions"], 3);
    assert_eq!(stats["requests"]["/v1/embeddings"], 1);
    assert_eq!(stats["requests_total"], 4);
    assert_eq!(
        stats["connections"], 1,
        "the pooled client reused its connection"
    );
    assert_eq!(server.stats().requests_to("/v1/chat/completions"), 3);
    assert_eq!(server.recent_requests().len(), 4);
    let reset = format!("{}/__mock/reset", server.base_url());
    send(
        &client,
        http::Request::post(&reset)
            .body(Default::default())
            .unwrap(),
    )
    .await;
    let after = server.stats();
    assert_eq!(after.requests_total, 0);
    assert_eq!(after.connections, 0);
    assert!(after.requests.is_empty());
}

#[tokio::test]
async fn http2_multiplexes_concurrent_requests_on_one_connection() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http2();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = client.clone();
        let url = format!("{}/v1/chat/completions", server.base_url());
        tasks.push(tokio::spawn(async move {
            send(
                &client,
                request(&url, &[], &chat_body("S", &format!("task {i}"), i % 2 == 0)),
            )
            .await
        }));
    }
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.version, http::Version::HTTP_2);
    }
    assert_eq!(server.stats().connections, 1);
    assert_eq!(server.stats().requests_total, 16);
}

#[tokio::test]
async fn tls_with_the_self_signed_certificate_over_http2_and_http1() {
    let server = MockServer::start(MockConfig::default().tls(true))
        .await
        .unwrap();
    assert!(server.base_url().starts_with("https://localhost:"));
    let client = https(&server);
    let url = format!("{}/v1/chat/completions", server.base_url());
    let reply = send(&client, request(&url, &[], &chat_body("S", "U", false))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.version, http::Version::HTTP_2, "ALPN picks h2");
    assert!(server
        .certificate_pem()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
}

#[tokio::test]
async fn tls_clients_without_the_root_are_refused() {
    let server = MockServer::start(MockConfig::default().tls(true))
        .await
        .unwrap();
    let client = https_with_roots(rustls::RootCertStore::empty());
    let url = format!("{}/v1/chat/completions", server.base_url());
    let error = client.request(request(&url, &[], "{}")).await.unwrap_err();
    let text = format!("{error:?}");
    assert!(
        text.contains("UnknownIssuer") || text.contains("certificate"),
        "{text}"
    );
    assert_eq!(server.stats().requests_total, 0);
}
