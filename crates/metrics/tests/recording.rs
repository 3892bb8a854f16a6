//! The metrics layer over the real connector and the mock on loopback, with
//! `metrics_util`'s debugging recorder installed as a local recorder.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_metrics::{MetricsConfig, MetricsLayer, MetricsStats};
use llm_layers_mock::testing::recorded;
use llm_layers_mock::{MockConfig, MockServer};
use serde_json::json;
use tower::{BoxError, Layer, Service, ServiceExt};

type Connector = HyperConnector<ReplayBody<Full<Bytes>>>;

fn connector() -> Connector {
    HyperConnector::builder().build().unwrap()
}

fn post(
    mock: &MockServer,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> http::Request<Full<Bytes>> {
    let mut builder = http::Request::post(format!("{}{path}", mock.base_url()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-secret-credential");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// Sends through `service` and reads the whole body; returns it, or the
/// error of the call or of the body.
async fn send<S, RB>(service: &S, request: http::Request<Full<Bytes>>) -> Result<Bytes, BoxError>
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<RB>> + Clone,
    S::Error: Into<BoxError>,
    RB: http_body::Body<Data = Bytes>,
    RB::Error: Into<BoxError>,
{
    let response = service.clone().oneshot(request).await.map_err(Into::into)?;
    Ok(response
        .into_body()
        .collect()
        .await
        .map_err(Into::into)?
        .to_bytes())
}

/// A chat request the mock answers with `fault`.
fn with_fault(mock: &MockServer, fault: &str, stream: bool) -> http::Request<Full<Bytes>> {
    post(
        mock,
        "/v1/chat/completions",
        &[("x-mock-fault", fault)],
        chat("gpt-4o", stream),
    )
}

fn chat(model: &str, stream: bool) -> String {
    json!({
        "model": model, "stream": stream, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Count the nodes"}]
    })
    .to_string()
}

fn anthropic(stream: bool, task: &str) -> String {
    json!({
        "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
        "system": [{"type": "text", "text": "Follow the workflow rules. ".repeat(600), "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": task}]
    })
    .to_string()
}

#[test]
fn plain_and_streamed_calls_record_tokens_by_kind() {
    let ((openai_usage, anthropic_first, stats), recorded) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let layer = MetricsLayer::default();
        let stats = layer.stats();
        let service = layer.layer(connector());
        let plain = send(
            &service,
            post(&mock, "/v1/chat/completions", &[], chat("gpt-4o", false)),
        )
        .await
        .unwrap();
        send(
            &service,
            post(&mock, "/v1/chat/completions", &[], chat("gpt-4o", true)),
        )
        .await
        .unwrap();
        let first = send(
            &service,
            post(&mock, "/v1/messages", &[], anthropic(false, "one")),
        )
        .await
        .unwrap();
        send(
            &service,
            post(&mock, "/v1/messages", &[], anthropic(true, "two")),
        )
        .await
        .unwrap();
        let openai: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
        (
            openai["usage"].clone(),
            first["usage"].clone(),
            stats.snapshot(),
        )
    });
    let gpt = [("provider", "openai"), ("model", "gpt-4o")];
    let tokens = |labels: &[(&str, &str)], kind: &str| {
        let mut all = labels.to_vec();
        all.push(("kind", kind));
        recorded.counter("llm_tokens_total", &all)
    };
    // The plain and the streamed call have the same usage.
    assert_eq!(
        tokens(&gpt, "input"),
        2 * openai_usage["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        tokens(&gpt, "output"),
        2 * openai_usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        recorded.counter(
            "llm_requests_total",
            &[("model", "gpt-4o"), ("outcome", "ok"), ("cache", "none")]
        ),
        2
    );

    let claude = [("provider", "anthropic"), ("model", "claude-sonnet-4-5")];
    let written = anthropic_first["cache_creation_input_tokens"]
        .as_u64()
        .unwrap();
    assert!(written > 1000);
    assert_eq!(
        tokens(&claude, "cache_write"),
        written,
        "the first call wrote the prefix"
    );
    assert_eq!(
        tokens(&claude, "cache_read"),
        written,
        "the streamed second call read it"
    );
    assert!(tokens(&claude, "output") > 0);
    assert_eq!(
        stats.by_model["claude-sonnet-4-5"]
            .tokens_by_kind
            .cache_read,
        written
    );
    assert_eq!(stats.total_calls, 4);
    assert_eq!(stats.total_errors, 0);
    // Credentials never become labels.
    assert!(recorded
        .0
        .iter()
        .all(|(_, _, labels, _)| labels.iter().all(|(_, v)| !v.contains("sk-secret"))));
}

#[test]
fn duration_covers_the_whole_stream_and_first_chunk_comes_early() {
    let (chunks, recorded) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default().chunk_delay(Duration::from_millis(15)))
            .await
            .unwrap();
        let service = MetricsLayer::default().layer(connector());
        let body = send(
            &service,
            post(&mock, "/v1/chat/completions", &[], chat("gpt-4o", true)),
        )
        .await
        .unwrap();
        body.split(|&b| b == b'\n')
            .filter(|line| line.starts_with(b"data:"))
            .count()
    });
    let duration = recorded.histogram("llm_request_duration_seconds", &[("model", "gpt-4o")]);
    let first = recorded.histogram("llm_time_to_first_chunk_seconds", &[("model", "gpt-4o")]);
    assert_eq!((duration.len(), first.len()), (1, 1));
    let stream_time = 0.015 * (chunks as f64 - 1.0);
    assert!(
        duration[0] >= stream_time,
        "{} < {stream_time}",
        duration[0]
    );
    assert!(
        duration[0] - first[0] >= 0.015 * (chunks as f64 - 2.0),
        "{duration:?} {first:?}"
    );
}

#[test]
fn every_error_kind_is_classified() {
    let (stats, recorded) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let layer = MetricsLayer::default();
        let stats = layer.stats();
        let service = layer.clone().layer(connector());
        for fault in ["429", "503", "529", "500"] {
            let path = if fault == "529" {
                "/v1/messages"
            } else {
                "/v1/chat/completions"
            };
            let body = if fault == "529" {
                anthropic(false, "x")
            } else {
                chat("gpt-4o", false)
            };
            send(
                &service,
                post(&mock, path, &[("x-mock-fault", fault)], body),
            )
            .await
            .unwrap();
        }
        // 4xx from a malformed body, which passes through untouched.
        send(
            &service,
            post(&mock, "/v1/chat/completions", &[], "{oops".into()),
        )
        .await
        .unwrap();
        // A stream cut mid-way.
        let cut = send(&service, with_fault(&mock, "cut", true)).await;
        assert!(cut.is_err());
        // A connection reset before the head.
        let reset = send(&service, with_fault(&mock, "reset", false)).await;
        assert!(reset.is_err());
        // A caller that drops a stalled stream.
        let response = service
            .clone()
            .oneshot(with_fault(&mock, "stall", true))
            .await
            .unwrap();
        let mut body = response.into_body();
        body.frame().await.unwrap().unwrap();
        drop(body);
        // A refused connection.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = http::Request::post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .body(Full::new(Bytes::from(chat("gpt-4o", false))))
            .unwrap();
        // The layer hands back the connector's own error type, unboxed.
        let refused: llm_layers_core::UpstreamError =
            service.clone().oneshot(refused).await.unwrap_err();
        assert_eq!(refused.kind(), "connect");
        // A timeout from tower's timeout layer below the metrics.
        let timed = layer.layer(tower::timeout::Timeout::new(
            connector(),
            Duration::from_millis(50),
        ));
        let slow = post(
            &mock,
            "/v1/chat/completions",
            &[("x-mock-latency-ms", "1000")],
            chat("gpt-4o", false),
        );
        assert!(send(&timed, slow).await.is_err());
        stats.snapshot()
    });
    let errors = |kind: &str| recorded.counter("llm_errors_total", &[("kind", kind)]);
    for (kind, count) in [
        ("rate_limit", 1),
        ("overloaded", 2),
        ("server", 1),
        ("client", 1),
        ("stream_aborted", 1),
        ("upstream_closed", 1),
        ("cancelled", 1),
        ("connect", 1),
        ("timeout", 1),
    ] {
        assert_eq!(errors(kind), count, "{kind}");
    }
    assert_eq!(stats.errors["gpt-4o:rate_limit"], 1);
    assert_eq!(stats.errors["claude-sonnet-4-5:overloaded"], 1);
    assert_eq!(
        stats.errors["unknown:client"], 1,
        "a malformed body has no model"
    );
    assert_eq!(stats.total_errors, 10);
    assert_eq!(
        recorded.gauge("llm_requests_in_flight", &[]),
        0.0,
        "every call ended"
    );
}

#[test]
fn answers_from_the_response_cache_count_as_saved_not_consumed() {
    use llm_layers_core::{CacheOutcome, CacheStatus};
    let (stats, recorded) = recorded(|| async {
        // The cache layer's contract: a hit carries `CacheStatus` in the
        // response extensions. This stand-in plays it.
        let cache_hit = tower::service_fn(
            |_request: http::Request<ReplayBody<Full<Bytes>>>| async {
                let body = r#"{"model":"gpt-4o","usage":{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":64}}}"#;
                let mut response = http::Response::new(Full::new(Bytes::from(body)));
                response.extensions_mut().insert(CacheStatus {
                    outcome: CacheOutcome::Hit,
                    key: None,
                    age: Some(Duration::from_secs(3)),
                });
                Ok::<_, std::convert::Infallible>(response)
            },
        );
        let layer = MetricsLayer::default();
        let stats = layer.stats();
        let service = layer.layer(cache_hit);
        let request = http::Request::post("http://api.test/v1/chat/completions")
            .body(Full::new(Bytes::from(chat("gpt-4o", false))))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
        stats.snapshot()
    });
    assert_eq!(recorded.counter("llm_tokens_total", &[]), 0);
    assert_eq!(
        recorded.counter("llm_tokens_saved_total", &[("kind", "input")]),
        100
    );
    assert_eq!(
        recorded.counter("llm_tokens_saved_total", &[("kind", "output")]),
        20
    );
    assert_eq!(
        recorded.counter("llm_requests_total", &[("cache", "hit")]),
        1
    );
    assert_eq!(stats.by_model["gpt-4o"].tokens, 0);
    assert_eq!(stats.by_model["gpt-4o"].tokens_saved.input, 100);
    assert_eq!(stats.cache_hit_rate, 1.0);
}

#[test]
fn the_model_label_is_capped() {
    let (stats, recorded) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let layer = MetricsLayer::new(MetricsConfig::default().max_models(2));
        let stats = layer.stats();
        let service = layer.layer(connector());
        for model in ["m1", "m2", "m3", "m4", "m1"] {
            send(
                &service,
                post(&mock, "/v1/chat/completions", &[], chat(model, false)),
            )
            .await
            .unwrap();
        }
        stats.snapshot()
    });
    let models: std::collections::BTreeSet<String> = recorded
        .0
        .iter()
        .filter(|(_, name, _, _)| name == "llm_requests_total")
        .flat_map(|(_, _, labels, _)| {
            labels
                .iter()
                .filter(|(k, _)| k == "model")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(
        models.into_iter().collect::<Vec<_>>(),
        ["m1", "m2", "other"]
    );
    assert_eq!(stats.by_model["other"].calls, 2);
    assert_eq!(stats.by_model["m1"].calls, 2);
}

#[test]
fn snapshot_percentiles_follow_the_latency_distribution() {
    let (stats, _) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let layer = MetricsLayer::default();
        let stats = layer.stats();
        let service = layer.layer(connector());
        let calls: Vec<_> = (1..=20)
            .map(|i| {
                let latency = (i * 10).to_string();
                let request = post(
                    &mock,
                    "/v1/embeddings",
                    &[("x-mock-latency-ms", &latency)],
                    json!({"model": "e", "input": "x"}).to_string(),
                );
                let service = service.clone();
                tokio::spawn(async move { send(&service, request).await.unwrap() })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        stats.snapshot()
    });
    let model = &stats.by_model["e"];
    assert_eq!(model.calls, 20);
    // 10, 20, …, 200 ms: the median is 100 ms, p95 190 ms; loopback adds a little.
    assert!((100.0..115.0).contains(&model.latency_p50), "{model:?}");
    assert!((190.0..215.0).contains(&model.latency_p95), "{model:?}");
    assert!((105.0..120.0).contains(&model.latency_avg), "{model:?}");
}

#[test]
fn in_flight_counts_calls_until_their_body_ends() {
    let ((during, stats), recorded) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let layer = MetricsLayer::default();
        let stats: MetricsStats = layer.stats();
        let service = layer.layer(connector());
        let response = service
            .oneshot(with_fault(&mock, "stall", true))
            .await
            .unwrap();
        let during = stats.snapshot().total_calls;
        drop(response);
        (during, stats.snapshot())
    });
    assert_eq!(during, 0, "the call has not ended while its body is open");
    assert_eq!(stats.total_calls, 1);
    assert_eq!(
        recorded.gauge("llm_requests_in_flight", &[("model", "gpt-4o")]),
        0.0
    );
}

#[test]
fn opentelemetry_names_on_request() {
    let ((), recorded) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let layer = MetricsLayer::new(MetricsConfig::default().opentelemetry_names(true));
        let service = layer.layer(connector());
        send(
            &service,
            post(&mock, "/v1/chat/completions", &[], chat("gpt-4o", false)),
        )
        .await
        .unwrap();
        send(
            &service,
            post(&mock, "/v1/chat/completions", &[], chat("gpt-4o", true)),
        )
        .await
        .unwrap();
    });
    let model = ("gen_ai.request.model", "gpt-4o");
    assert_eq!(
        recorded
            .histogram("gen_ai.client.operation.time_to_first_chunk", &[model])
            .len(),
        1,
        "the current semantic conventions' name, for the stream only"
    );
    assert_eq!(
        recorded
            .histogram(
                "gen_ai.client.operation.duration",
                &[model, ("gen_ai.provider.name", "openai")]
            )
            .len(),
        2
    );
    let input = recorded.histogram(
        "gen_ai.client.token.usage",
        &[model, ("gen_ai.token.type", "input")],
    );
    assert!(!input.is_empty());
    assert!(input[0] > 0.0);
    assert!(recorded.find("llm_tokens_total", &[]).is_empty());
}
