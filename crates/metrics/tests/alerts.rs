//! The error-rate alert over the real connector and the mock on loopback,
//! with `metrics_util`'s debugging recorder: it starts when failed calls
//! pass the threshold (listed in the stats, gauge at 1), and ends when
//! answers bring the rate back under it (gone from the stats, gauge at 0).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_metrics::{AlertConfig, AlertKind, MetricsConfig, MetricsLayer};
use llm_layers_mock::testing::recorded;
use llm_layers_mock::{MockConfig, MockServer};
use tower::{Layer, ServiceExt};

type Client = llm_layers_metrics::Metrics<HyperConnector<ReplayBody<Full<Bytes>>>>;

async fn call(client: &Client, mock: &MockServer, fault: Option<&str>) {
    let mut request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-alerts");
    if let Some(fault) = fault {
        request = request.header("x-mock-fault", fault);
    }
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    let request = request
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();
}

#[test]
fn the_error_rate_alert_starts_past_its_threshold_and_ends_under_it() {
    let ((during, after), seen) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let alerts = AlertConfig::default()
            .min_calls_for_errors(4)
            .max_error_rate(0.5);
        let layer = MetricsLayer::new(MetricsConfig::default().alerts(alerts));
        let stats = layer.stats();
        let client = layer.layer(HyperConnector::builder().build().unwrap());
        for _ in 0..4 {
            call(&client, &mock, Some("500")).await;
        }
        let during = stats.snapshot().alerts;
        // 4 failed of 9: under one half.
        for _ in 0..5 {
            call(&client, &mock, None).await;
        }
        (during, stats.snapshot().alerts)
    });
    assert_eq!(during.len(), 1, "{during:?}");
    assert_eq!(during[0].kind, AlertKind::ErrorRate);
    assert_eq!(during[0].model, "gpt-4o");
    assert_eq!(during[0].value, 1.0);
    assert!(after.is_empty(), "{after:?}");
    let gauge = [("kind", "error_rate"), ("model", "gpt-4o")];
    assert_eq!(seen.find("llm_alert", &gauge).len(), 1);
    assert_eq!(seen.gauge("llm_alert", &gauge), 0.0, "ended");
}
