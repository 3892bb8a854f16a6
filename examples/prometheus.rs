//! Prometheus export: install `metrics-exporter-prometheus` (no listener or
//! push gateway of its own) with buckets that suit LLM latencies, put a
//! `MetricsLayer` over the `HyperConnector`, send a few calls to the mock,
//! and serve `/metrics` from an axum route.
//!
//! `cargo run --example prometheus` prints the scrape once and exits;
//! `cargo run --example prometheus -- --serve` keeps serving until Ctrl-C.

use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers::connector::HyperConnector;
use llm_layers::core::body::ReplayBody;
use llm_layers::metrics::MetricsLayer;
use llm_layers_mock::{MockConfig, MockServer};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::{Layer, ServiceExt};

/// Installs the Prometheus recorder with the crate's buckets.
fn install_prometheus() -> PrometheusHandle {
    llm_layers::metrics::prometheus::builder()
        .install_recorder()
        .expect("no other recorder is installed")
}

/// The `/metrics` route, ready to merge into an application's router.
pub fn metrics_router(handle: PrometheusHandle) -> axum::Router {
    axum::Router::new().route("/metrics", get(move || std::future::ready(handle.render())))
}

#[tokio::main]
async fn main() {
    let handle = install_prometheus();
    let mock = MockServer::start(MockConfig::default())
        .await
        .expect("mock starts");
    let connector: HyperConnector<ReplayBody<Full<Bytes>>> =
        HyperConnector::builder().build().expect("connector");
    let layer = MetricsLayer::default();
    let stats = layer.stats();
    let service = layer.layer(connector);

    let calls = [
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
            None,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#,
            None,
        ),
        (
            "/v1/messages",
            r#"{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}"#,
            None,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
            Some("429"),
        ),
    ];
    for (path, body, fault) in calls {
        let mut request = http::Request::post(format!("{}{path}", mock.base_url()))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("request");
        if let Some(fault) = fault {
            request
                .headers_mut()
                .insert("x-mock-fault", fault.parse().expect("header"));
        }
        let response = service
            .clone()
            .oneshot(request)
            .await
            .expect("mock answers");
        response.into_body().collect().await.expect("body");
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = metrics_router(handle.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    if std::env::args().any(|arg| arg == "--serve") {
        println!("serving http://{address}/metrics (Ctrl-C to stop)");
        tokio::signal::ctrl_c().await.expect("signal");
        return;
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let scrape = client
        .get(format!("http://{address}/metrics").parse().expect("uri"))
        .await
        .expect("scrape");
    let text = scrape.into_body().collect().await.expect("body").to_bytes();
    println!("GET http://{address}/metrics\n");
    for line in String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| l.starts_with("llm_") && !l.contains("_bucket"))
    {
        println!("{line}");
    }
    println!(
        "\nstats snapshot:\n{}",
        serde_json::to_string_pretty(&stats.snapshot()).expect("json")
    );
}
