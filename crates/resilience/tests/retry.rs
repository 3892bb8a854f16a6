//! The retry layer over the real connector, against the mock and scripted
//! upstreams on loopback: what is retried, what never is, and the bounds.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_mock::raw::{head, RawUpstream, Step};
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_resilience::{Retry, RetryLayer, RetryPolicy};
use tower::{Layer, ServiceExt};

type Client = Retry<HyperConnector<ReplayBody<Full<Bytes>>>>;

fn client(policy: RetryPolicy) -> Client {
    RetryLayer::new(policy).layer(HyperConnector::builder().build().unwrap())
}

/// Quick backoff, so that tests do not wait for the default's.
fn quick() -> RetryPolicy {
    RetryPolicy::default().base_delay(Duration::from_millis(20))
}

fn chat(
    base_url: &str,
    stream: bool,
    text: &str,
    headers: &[(&str, &str)],
) -> http::Request<Full<Bytes>> {
    let body = serde_json::json!({
        "model": "gpt-4o", "stream": stream,
        "messages": [{"role": "user", "content": text}]
    });
    let mut request = http::Request::post(format!("{base_url}/v1/chat/completions"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn attempts<B>(response: &http::Response<B>) -> &str {
    response.headers()["x-llm-attempts"].to_str().unwrap()
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_wait() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let faults = [
        ("x-mock-fault", "429"),
        ("x-mock-fault-times", "1"),
        ("x-mock-retry-after", "1"),
    ];
    let started = Instant::now();
    let response = client(quick())
        .oneshot(chat(&mock.base_url(), false, "wait", &faults))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), "2");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry-after was honoured"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(b"{\"id\":\"chatcmpl"));
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 2);
}

#[tokio::test]
async fn insufficient_quota_is_returned_at_once() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let faults = [("x-mock-fault", "insufficient_quota")];
    let response = client(quick())
        .oneshot(chat(&mock.base_url(), false, "quota", &faults))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(attempts(&response), "1");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error["error"]["code"], "insufficient_quota",
        "the body reaches the caller whole"
    );
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_wait_left_returns_the_429_at_once() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let faults = [("x-mock-fault", "429"), ("x-mock-retry-after", "60")];
    let response = client(quick())
        .oneshot(chat(&mock.base_url(), false, "long", &faults))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    assert_eq!(attempts(&response), "1");
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
}

#[tokio::test]
async fn server_errors_are_retried_up_to_the_attempt_limit() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let faults = [("x-mock-fault", "529")];
    let response = client(quick())
        .oneshot(chat(&mock.base_url(), false, "storm", &faults))
        .await
        .unwrap();
    assert_eq!(response.status(), 529, "the last attempt's answer");
    assert_eq!(attempts(&response), "3");
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 3);
    let client_errors = [("x-mock-fault", "insufficient_quota")];
    let once = client(quick().max_attempts(1))
        .oneshot(chat(&mock.base_url(), false, "one", &client_errors))
        .await
        .unwrap();
    assert_eq!(attempts(&once), "1");
}

#[tokio::test]
async fn a_connection_reset_before_the_head_is_retried() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let faults = [("x-mock-fault", "reset"), ("x-mock-fault-times", "1")];
    let response = client(quick())
        .oneshot(chat(&mock.base_url(), true, "reset", &faults))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), "2");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.ends_with(b"data: [DONE]\n\n"), "a whole stream");
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 2);
}

#[tokio::test]
async fn a_stream_cut_after_its_first_chunk_reached_the_caller_is_not_retried() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let faults = [("x-mock-fault", "cut")];
    let response = client(quick())
        .oneshot(chat(&mock.base_url(), true, "cut", &faults))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(attempts(&response), "1");
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(first.starts_with(b"data: "), "the first chunk came through");
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the caller sees the cut");
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
}

#[tokio::test]
async fn a_body_failing_before_its_first_byte_is_retried() {
    // Every connection: a stream's head, then the connection closes.
    let upstream = RawUpstream::start(vec![
        Step::write(head(
            200,
            &[
                ("content-type", "text/event-stream"),
                ("transfer-encoding", "chunked"),
            ],
        )),
        Step::Close,
    ])
    .await
    .unwrap();
    let response = client(quick())
        .oneshot(chat(&upstream.base_url(), true, "gate", &[]))
        .await
        .unwrap();
    assert_eq!(attempts(&response), "3");
    assert_eq!(
        upstream.requests(),
        3,
        "each failure before a byte was retried"
    );
    let ended = response.into_body().collect().await;
    assert!(
        ended.is_err(),
        "the last attempt's failure reaches the caller"
    );
}

#[tokio::test]
async fn without_a_budget_left_nothing_is_retried() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = RetryLayer::new(quick().budget_min_per_second(0).budget_ratio(0.0));
    let response = layer
        .layer(HyperConnector::builder().build().unwrap())
        .oneshot(chat(
            &mock.base_url(),
            false,
            "budget",
            &[("x-mock-fault", "503")],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(attempts(&response), "1");
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
}

#[tokio::test]
async fn a_stream_silent_before_its_first_byte_is_retried_over_the_timeout() {
    use llm_layers_resilience::{UpstreamTimeoutLayer, UpstreamTimeouts};
    use tower::ServiceBuilder;

    // Every connection: a stream's head, then nothing.
    let upstream = RawUpstream::start(vec![
        Step::write(head(
            200,
            &[
                ("content-type", "text/event-stream"),
                ("transfer-encoding", "chunked"),
            ],
        )),
        Step::Stall,
    ])
    .await
    .unwrap();
    let timeouts = UpstreamTimeouts::default().stream_idle(Duration::from_millis(200));
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(quick()))
        .layer(UpstreamTimeoutLayer::new(timeouts))
        .service(
            HyperConnector::builder()
                .build::<ReplayBody<Full<Bytes>>>()
                .unwrap(),
        );
    let response = client
        .oneshot(chat(&upstream.base_url(), true, "silent", &[]))
        .await
        .unwrap();
    assert_eq!(attempts(&response), "3");
    assert_eq!(upstream.requests(), 3, "each silent stream was tried again");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.starts_with("data: {\"error\""),
        "the last attempt's error event: {text}"
    );
}
