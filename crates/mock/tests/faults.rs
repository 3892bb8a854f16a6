//! Fault injection, per request and per server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use http_body_util::BodyExt;
use llm_layers_mock::{Fault, MockConfig, MockServer};

async fn with_fault(server: &MockServer, fault: &str, body: &str, path: &str) -> Reply {
    post(
        &http1(),
        server,
        path,
        &[("x-mock-fault", fault), ("x-mock-retry-after", "7")],
        body,
    )
    .await
}

#[tokio::test]
async fn status_faults_answer_in_the_providers_shape() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let chat = chat_body("S", "U", false);
    let limited = with_fault(&server, "429", &chat, "/v1/chat/completions").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"], "7");
    assert_eq!(limited.json()["error"]["type"], "rate_limit_error");
    assert_eq!(
        with_fault(&server, "500", &chat, "/v1/chat/completions")
            .await
            .status,
        500
    );
    assert_eq!(
        with_fault(&server, "503", &chat, "/v1/chat/completions")
            .await
            .status,
        503
    );
    let overloaded = with_fault(&server, "529", "{}", "/v1/messages").await;
    assert_eq!(overloaded.status, 529);
    assert_eq!(overloaded.json()["error"]["type"], "overloaded_error");
    assert_eq!(server.stats().faults_injected, 4);
    let unknown = with_fault(&server, "teapot", &chat, "/v1/chat/completions").await;
    assert_eq!(unknown.status, 400);
}

#[tokio::test]
async fn reset_closes_the_connection_without_an_answer() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let url = format!("{}/v1/chat/completions", server.base_url());
    let result = http1()
        .request(request(
            &url,
            &[("x-mock-fault", "reset")],
            &chat_body("S", "U", false),
        ))
        .await;
    assert!(result.is_err(), "expected a transport error");
}

#[tokio::test]
async fn cut_streams_fail_after_the_first_chunks() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let url = format!("{}/v1/chat/completions", server.base_url());
    let response = http1()
        .request(request(
            &url,
            &[("x-mock-fault", "cut")],
            &chat_body("S", "U", true),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = 0;
    let error = loop {
        match body.frame().await {
            Some(Ok(frame)) => received += frame.into_data().map_or(0, |d| d.len()),
            Some(Err(error)) => break error,
            None => panic!("the stream ended cleanly"),
        }
    };
    let whole = post(
        &http1(),
        &server,
        "/v1/chat/completions",
        &[],
        &chat_body("S", "U", true),
    )
    .await;
    assert!(received > 0, "some chunks arrived before the cut");
    assert!(
        received < whole.body.len(),
        "the cut stream is shorter: {error}"
    );
}

#[tokio::test]
async fn stalled_streams_stop_sending_but_stay_open() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let url = format!("{}/v1/messages", server.base_url());
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let response = http1()
        .request(request(&url, &[("x-mock-fault", "stall")], body))
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first
        .into_data()
        .unwrap()
        .starts_with(b"event: message_start"));
    let stalled = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            match body.frame().await {
                Some(Ok(_)) => continue,
                other => return other.map(|r| r.is_ok()),
            }
        }
    })
    .await;
    assert!(stalled.is_err(), "the stream should hang, got {stalled:?}");
}

#[tokio::test]
async fn server_wide_faults_apply_until_cleared() {
    let server = MockServer::start(MockConfig::default().fault(Some(Fault::ServerError)))
        .await
        .unwrap();
    let client = http1();
    let chat = chat_body("S", "U", false);
    assert_eq!(
        post(&client, &server, "/v1/chat/completions", &[], &chat)
            .await
            .status,
        500
    );
    server.set_fault(None);
    assert_eq!(
        post(&client, &server, "/v1/chat/completions", &[], &chat)
            .await
            .status,
        200
    );
    server.set_fault(Some(Fault::RateLimit));
    assert_eq!(
        post(&client, &server, "/v1/chat/completions", &[], &chat)
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn latency_and_chunk_delay_are_applied() {
    let config = MockConfig::default()
        .latency(Duration::from_millis(50))
        .chunk_delay(Duration::from_millis(10));
    let server = MockServer::start(config).await.unwrap();
    let url = format!("{}/v1/chat/completions", server.base_url());
    let started = Instant::now();
    let response = http1()
        .request(request(&url, &[], &chat_body("S", "U", true)))
        .await
        .unwrap();
    let first_byte = started.elapsed();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let chunks = body
        .split(|&b| b == b'\n')
        .filter(|line| line.starts_with(b"data:"))
        .count();
    assert!(first_byte >= Duration::from_millis(50), "{first_byte:?}");
    assert!(started.elapsed() >= Duration::from_millis(50 + 10 * (chunks as u64 - 1)));
    let fast = Instant::now();
    http1()
        .request(request(
            &url,
            &[("x-mock-latency-ms", "0")],
            &chat_body("S", "U", false),
        ))
        .await
        .unwrap();
    assert!(fast.elapsed() < Duration::from_millis(50) || cfg!(miri));
}

#[tokio::test]
async fn a_scheduled_fault_strikes_the_first_n_identical_requests_only() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let scheduled = |body: String, key: Option<&'static str>| {
        let client = client.clone();
        let server = &server;
        async move {
            let mut headers = vec![("x-mock-fault", "503"), ("x-mock-fault-times", "2")];
            headers.extend(key.map(|key| ("x-mock-fault-key", key)));
            post(&client, server, "/v1/chat/completions", &headers, &body)
                .await
                .status
        }
    };
    let first = chat_body("S", "first", false);
    let statuses = [
        scheduled(first.clone(), None).await,
        scheduled(first.clone(), None).await,
        scheduled(chat_body("S", "other", false), None).await,
        scheduled(first.clone(), None).await,
    ];
    assert_eq!(statuses, [503, 503, 503, 200], "counted per body");
    // A key counts across bodies.
    let keyed = [
        scheduled(chat_body("S", "a", false), Some("k")).await,
        scheduled(chat_body("S", "b", false), Some("k")).await,
        scheduled(chat_body("S", "c", false), Some("k")).await,
    ];
    assert_eq!(keyed, [503, 503, 200]);
    server.reset();
    assert_eq!(scheduled(first, None).await, 503, "reset forgets schedules");
}

#[tokio::test]
async fn insufficient_quota_is_a_429_that_says_so() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let chat = chat_body("S", "U", false);
    let reply = with_fault(&server, "insufficient_quota", &chat, "/v1/chat/completions").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.json()["error"]["code"], "insufficient_quota");
    assert!(!reply.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_fault_share_strikes_that_share_of_requests_evenly() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let mut statuses = Vec::new();
    for call in 0..8 {
        let headers = [("x-mock-fault", "500"), ("x-mock-fault-share", "0.25")];
        let body = chat_body("S", &format!("call {call}"), false);
        statuses.push(
            post(&client, &server, "/v1/chat/completions", &headers, &body)
                .await
                .status,
        );
    }
    assert_eq!(statuses, [200, 200, 200, 500, 200, 200, 200, 500]);
}

#[tokio::test]
async fn a_server_down_for_a_window_answers_again_after_it() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let client = http1();
    let chat = chat_body("S", "U", false);
    // A window long enough that the first call lands in it however slow the machine.
    server.down_for(Fault::Unavailable, Duration::from_secs(2));
    assert_eq!(
        post(&client, &server, "/v1/chat/completions", &[], &chat)
            .await
            .status,
        503
    );
    tokio::time::sleep(Duration::from_millis(2_050)).await;
    assert_eq!(
        post(&client, &server, "/v1/chat/completions", &[], &chat)
            .await
            .status,
        200
    );
}
