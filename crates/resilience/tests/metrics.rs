//! What the resilience layers report through the `metrics` facade, read
//! back from the real debugging recorder.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_mock::testing::recorded;
use llm_layers_mock::{Fault, MockConfig, MockServer};
use llm_layers_resilience::{
    BreakerPolicy, CircuitBreakerLayer, RateLimitLayer, RateLimitPolicy, RetryLayer, RetryPolicy,
    WhenSpent,
};
use tower::{Layer, Service, ServiceExt};

fn chat(mock: &MockServer, headers: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", "Bearer sk-metrics");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    request
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn send<S, B>(service: &S, request: http::Request<Full<Bytes>>) -> u16
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

fn connector() -> HyperConnector<ReplayBody<Full<Bytes>>> {
    HyperConnector::builder().build().unwrap()
}

#[test]
fn retries_breakers_and_held_calls_are_counted() {
    let ((), seen) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let retry = RetryLayer::new(RetryPolicy::default().base_delay(Duration::from_millis(5)))
            .layer(connector());
        let once = [("x-mock-fault", "503"), ("x-mock-fault-times", "1")];
        assert_eq!(send(&retry, chat(&mock, &once)).await, 200);

        let failing = MockServer::start(MockConfig::default().fault(Some(Fault::ServerError)))
            .await
            .unwrap();
        let breaker =
            CircuitBreakerLayer::new(BreakerPolicy::default().min_calls(2)).layer(connector());
        for expected in [500, 500, 503] {
            assert_eq!(send(&breaker, chat(&failing, &[])).await, expected);
        }

        let limit = RateLimitLayer::new(RateLimitPolicy::default().when_spent(WhenSpent::FailFast))
            .layer(connector());
        let spend = [
            ("x-mock-remaining-requests", "0"),
            ("x-mock-ratelimit-reset-ms", "60000"),
        ];
        assert_eq!(send(&limit, chat(&mock, &spend)).await, 200);
        assert_eq!(send(&limit, chat(&mock, &[])).await, 429);
    });
    assert_eq!(
        seen.counter("llm_retries_total", &[("reason", "overloaded")]),
        1
    );
    assert_eq!(seen.histogram("llm_retry_wait_seconds", &[]).len(), 1);
    assert_eq!(seen.histogram("llm_call_attempts", &[]), [2.0]);
    let pair = [("model", "gpt-4o")];
    assert_eq!(seen.gauge("llm_circuit_state", &pair), 2.0, "open");
    assert_eq!(
        seen.counter(
            "llm_circuit_transitions_total",
            &[("model", "gpt-4o"), ("to", "open")]
        ),
        1
    );
    assert_eq!(seen.counter("llm_circuit_rejected_total", &pair), 1);
    assert_eq!(
        seen.counter("llm_rate_limit_held_total", &[("outcome", "refused")]),
        1
    );
}
