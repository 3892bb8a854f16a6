//! HyperConnector over TLS on loopback against the mock: a pooled client
//! beside one that opens a new connection per request (the seed design's
//! "before"), and throughput at 32 concurrent requests over HTTP/1.1 and
//! HTTP/2.
//!
//! `cargo bench --bench connector`

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Full};
use llm_layers::connector::{HyperConnector, HyperConnectorBuilder};
use llm_layers_mock::{MockConfig, MockServer};
use tower::ServiceExt;

type Connector = HyperConnector<Full<Bytes>>;

const BODY: &[u8] = br#"{"model":"text-embedding-3-small","input":"hello","dimensions":8}"#;

async fn one(connector: &Connector, url: &str) {
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap();
    let response = connector.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
}

fn connector(
    mock: &MockServer,
    configure: impl FnOnce(HyperConnectorBuilder) -> HyperConnectorBuilder,
) -> Connector {
    configure(
        HyperConnector::builder().add_root_certificate(mock.certificate_der().unwrap().clone()),
    )
    .build()
    .unwrap()
}

fn sequential(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(MockServer::start(MockConfig::default().tls(true)))
        .unwrap();
    let url = format!("{}/v1/embeddings", mock.base_url());
    let pooled = connector(&mock, |b| b);
    let fresh = connector(&mock, |b| b.max_idle_per_host(0));
    let mut group = c.benchmark_group("connector_sequential_tls");
    group.bench_function("pooled", |b| {
        b.iter(|| runtime.block_on(one(&pooled, &url)))
    });
    group.bench_function("new_connection_per_request", |b| {
        b.iter(|| runtime.block_on(one(&fresh, &url)))
    });
    group.finish();
    let pooled_stats = pooled.stats();
    let fresh_stats = fresh.stats();
    println!(
        "pooled: {} requests over {} connection(s); new-per-request: {} requests over {} connections, TLS handshake p50 {:.3} ms",
        pooled_stats.requests,
        pooled_stats.opened,
        fresh_stats.requests,
        fresh_stats.opened,
        fresh_stats.tls_handshake_p50_ms.unwrap_or_default()
    );
}

fn concurrent(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(MockServer::start(MockConfig::default().tls(true)))
        .unwrap();
    let url = format!("{}/v1/embeddings", mock.base_url());
    let mut group = c.benchmark_group("connector_32_concurrent_tls");
    group.throughput(Throughput::Elements(32));
    for (name, connector) in [
        ("http1", connector(&mock, |b| b.http1_only(true))),
        (
            "http1_idle_32",
            connector(&mock, |b| b.http1_only(true).max_idle_per_host(32)),
        ),
        ("http2", connector(&mock, |b| b.http2_only(true))),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..32)
                        .map(|_| {
                            let connector = connector.clone();
                            let url = url.clone();
                            tokio::spawn(async move { one(&connector, &url).await })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                })
            })
        });
        let stats = connector.stats();
        println!(
            "{name}: {} requests over {} connection(s)",
            stats.requests, stats.opened
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1)).sample_size(40);
    targets = sequential, concurrent
}
criterion_main!(benches);
