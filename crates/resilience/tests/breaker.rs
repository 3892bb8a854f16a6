//! The circuit breaker over the real connector, against the mock on
//! loopback: a storm opens it, open it answers in the provider's shape
//! without reaching the upstream, and probes close it once the upstream
//! recovers. What is not the upstream's fault never opens it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_mock::{Fault, MockConfig, MockServer};
use llm_layers_resilience::{
    BreakerPolicy, CircuitBreaker, CircuitBreakerLayer, RetryLayer, RetryPolicy,
};
use tower::{Layer, ServiceBuilder, ServiceExt};

type Client = CircuitBreaker<HyperConnector<ReplayBody<Full<Bytes>>>>;

fn client(layer: &CircuitBreakerLayer) -> Client {
    layer.layer(HyperConnector::builder().build().unwrap())
}

fn policy() -> BreakerPolicy {
    BreakerPolicy::default()
        .min_calls(4)
        .cool_down(Duration::from_millis(300))
        .half_open_probes(1)
}

fn call(
    mock: &MockServer,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::post(format!("{}{path}", mock.base_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

async fn status(client: &Client, request: http::Request<Full<Bytes>>) -> u16 {
    let response = client.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

#[tokio::test]
async fn a_storm_opens_it_and_a_probe_closes_it_when_the_upstream_recovers() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CircuitBreakerLayer::new(policy());
    let client = client(&layer);
    mock.set_fault(Some(Fault::Unavailable));
    for _ in 0..4 {
        assert_eq!(
            status(&client, call(&mock, "/v1/chat/completions", CHAT, &[])).await,
            503
        );
    }
    assert_eq!(layer.snapshot()[0].state, "open");
    let reached = mock.stats().requests_total;
    let refused = client
        .clone()
        .oneshot(call(&mock, "/v1/chat/completions", CHAT, &[]))
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["x-llm-circuit"], "open");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 1, "the cool-down left, rounded up");
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error["error"]["type"], "service_unavailable",
        "OpenAI's shape"
    );
    assert_eq!(
        mock.stats().requests_total,
        reached,
        "the upstream never saw it"
    );

    // Another model on the same origin has its own breaker.
    mock.set_fault(None);
    let other = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(
        status(&client, call(&mock, "/v1/chat/completions", other, &[])).await,
        200
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        status(&client, call(&mock, "/v1/chat/completions", CHAT, &[])).await,
        200,
        "the probe went through"
    );
    let rows = layer.snapshot();
    assert!(rows.iter().all(|row| row.state == "closed"), "{rows:?}");
}

#[tokio::test]
async fn a_failed_probe_opens_it_again_and_anthropic_gets_its_own_shape() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CircuitBreakerLayer::new(policy());
    let client = client(&layer);
    let overloaded = [("x-mock-fault", "529")];
    for _ in 0..4 {
        assert_eq!(
            status(&client, call(&mock, "/v1/messages", MESSAGES, &overloaded)).await,
            529
        );
    }
    let refused = client
        .clone()
        .oneshot(call(&mock, "/v1/messages", MESSAGES, &[]))
        .await
        .unwrap();
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["type"], "error", "Anthropic's shape");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        status(&client, call(&mock, "/v1/messages", MESSAGES, &overloaded)).await,
        529
    );
    assert_eq!(layer.snapshot()[0].state, "open", "the probe failed");
}

#[tokio::test]
async fn client_errors_and_callers_hanging_up_never_open_it() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CircuitBreakerLayer::new(policy());
    let client = client(&layer);
    for _ in 0..6 {
        let quota = [("x-mock-fault", "insufficient_quota")];
        assert_eq!(
            status(&client, call(&mock, "/v1/chat/completions", CHAT, &quota)).await,
            429
        );
    }
    let stream = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..6 {
        let stall = [("x-mock-fault", "stall")];
        let response = client
            .clone()
            .oneshot(call(&mock, "/v1/chat/completions", stream, &stall))
            .await
            .unwrap();
        let mut body = response.into_body();
        body.frame().await.unwrap().unwrap();
        drop(body);
    }
    let row = &layer.snapshot()[0];
    assert_eq!(row.state, "closed");
    assert_eq!(
        (row.calls, row.failures),
        (6, 0),
        "the hang-ups were not counted"
    );
}

#[tokio::test]
async fn streams_the_upstream_cuts_are_failures() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CircuitBreakerLayer::new(policy());
    let client = client(&layer);
    let stream = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..4 {
        let response = client
            .clone()
            .oneshot(call(
                &mock,
                "/v1/chat/completions",
                stream,
                &[("x-mock-fault", "cut")],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.into_body().collect().await.is_err());
    }
    assert_eq!(layer.snapshot()[0].state, "open");
}

#[tokio::test]
async fn a_retry_above_does_not_retry_the_open_breakers_answer() {
    let mock = MockServer::start(MockConfig::default().fault(Some(Fault::ServerError)))
        .await
        .unwrap();
    let breaker = CircuitBreakerLayer::new(policy());
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(
            RetryPolicy::default().base_delay(Duration::from_millis(5)),
        ))
        .layer(breaker.clone())
        .service(
            HyperConnector::builder()
                .build::<ReplayBody<ReplayBody<Full<Bytes>>>>()
                .unwrap(),
        );
    // Two calls of three attempts each: the fourth failure opens it, the
    // fifth attempt meets the open breaker and is not retried.
    let mut attempts = Vec::new();
    for _ in 0..2 {
        let response = client
            .clone()
            .oneshot(call(&mock, "/v1/chat/completions", CHAT, &[]))
            .await
            .unwrap();
        attempts.push(
            response.headers()["x-llm-attempts"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(attempts, ["3", "2"]);
    assert_eq!(mock.stats().requests_total, 4);
    let refused = client
        .clone()
        .oneshot(call(&mock, "/v1/chat/completions", CHAT, &[]))
        .await
        .unwrap();
    assert_eq!(refused.headers()["x-llm-circuit"], "open");
    assert_eq!(refused.headers()["x-llm-attempts"], "1");
    assert_eq!(mock.stats().requests_total, 4);
}

#[tokio::test]
async fn streams_a_timeout_below_ends_are_failures() {
    use llm_layers_mock::raw::{chunk, head, RawUpstream, Step};
    use llm_layers_resilience::{UpstreamTimeoutLayer, UpstreamTimeouts};

    // Every connection: a stream's head and first event, then silence.
    let upstream = RawUpstream::start(vec![
        Step::write(head(
            200,
            &[
                ("content-type", "text/event-stream"),
                ("transfer-encoding", "chunked"),
            ],
        )),
        Step::Write(chunk(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        )),
        Step::Stall,
    ])
    .await
    .unwrap();
    let breaker = CircuitBreakerLayer::new(BreakerPolicy::default().min_calls(2));
    let timeouts = UpstreamTimeouts::default().stream_idle(Duration::from_millis(200));
    let client = ServiceBuilder::new()
        .layer(breaker.clone())
        .layer(UpstreamTimeoutLayer::new(timeouts))
        .service(
            HyperConnector::builder()
                .build::<ReplayBody<Full<Bytes>>>()
                .unwrap(),
        );
    let stream = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    for _ in 0..2 {
        let request = http::Request::post(format!("{}/v1/chat/completions", upstream.base_url()))
            .body(Full::new(Bytes::from_static(stream.as_bytes())))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            String::from_utf8_lossy(&body).contains("\"error\""),
            "the timeout's error event ended the stream cleanly"
        );
    }
    let row = &breaker.snapshot()[0];
    assert_eq!((row.calls, row.failures), (2, 2));
    assert_eq!(row.state, "open");
}
