//! The connector against the mock over TLS on loopback, its self-signed
//! certificate added as a root.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::{
    ConnectionUse, ConnectorError, HyperConnector, HyperConnectorBuilder, Roots,
};
use llm_layers_mock::{MockConfig, MockServer};
use tower::ServiceExt;

type Connector = HyperConnector<Full<Bytes>>;

/// A connector builder trusting the mock's certificate when it has one.
fn builder(mock: &MockServer) -> HyperConnectorBuilder {
    match mock.certificate_der() {
        Some(certificate) => HyperConnector::builder().add_root_certificate(certificate.clone()),
        None => HyperConnector::builder(),
    }
}

fn embeddings(mock: &MockServer) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("{}/v1/embeddings", mock.base_url()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"model":"e","input":"hi"}"#,
        )))
        .unwrap()
}

/// Sends a request, reads the whole body, returns the connection it used.
async fn send(
    connector: &Connector,
    request: http::Request<Full<Bytes>>,
) -> Result<ConnectionUse, ConnectorError> {
    let response = connector.clone().oneshot(request).await?;
    assert_eq!(response.status(), 200);
    let connection = response
        .extensions()
        .get::<ConnectionUse>()
        .cloned()
        .unwrap();
    response.into_body().collect().await.unwrap();
    Ok(connection)
}

async fn concurrently(
    connector: &Connector,
    mock: &MockServer,
    count: usize,
) -> Vec<ConnectionUse> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let connector = connector.clone();
            let request = embeddings(mock);
            tokio::spawn(async move { send(&connector, request).await.unwrap() })
        })
        .collect();
    let mut uses = Vec::new();
    for task in tasks {
        uses.push(task.await.unwrap());
    }
    uses
}

#[tokio::test]
async fn sequential_requests_open_exactly_one_connection() {
    let mock = MockServer::start(MockConfig::default().tls(true))
        .await
        .unwrap();
    let connector: Connector = builder(&mock).build().unwrap();
    let first = send(&connector, embeddings(&mock)).await.unwrap();
    assert!(!first.reused);
    for _ in 1..200 {
        let connection = send(&connector, embeddings(&mock)).await.unwrap();
        assert!(connection.reused);
        assert_eq!(connection.connection_id, first.connection_id);
    }
    let stats = connector.stats();
    assert_eq!(mock.stats().connections, 1);
    assert_eq!(stats.opened, 1);
    assert_eq!((stats.requests, stats.reused), (200, 199));
    assert!((stats.reuse_ratio - 199.0 / 200.0).abs() < 1e-9);
    assert!(stats.tls_handshake_p50_ms.is_some());
    assert_eq!(stats.by_host["localhost"].opened, 1);
    assert_eq!(stats.by_host["localhost"].requests, 200);
}

/// A TLS mock whose answers take 50 ms, so that requests overlap.
async fn slow_tls_mock() -> MockServer {
    MockServer::start(
        MockConfig::default()
            .tls(true)
            .latency(Duration::from_millis(50)),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn concurrent_http1_requests_open_at_most_one_connection_each() {
    let mock = slow_tls_mock().await;
    let connector: Connector = builder(&mock).http1_only(true).build().unwrap();
    let uses = concurrently(&connector, &mock, 16).await;
    assert!(uses.iter().all(|u| !u.http2));
    let opened = connector.stats().opened;
    assert!((2..=16).contains(&opened), "{opened}");
    assert_eq!(mock.stats().connections, opened);
    // A second wave reuses the warm connections.
    concurrently(&connector, &mock, 16).await;
    assert!(connector.stats().opened <= 16);
    assert!(connector.stats().reused >= 16);
}

#[tokio::test]
async fn concurrent_http2_requests_share_one_connection() {
    let mock = slow_tls_mock().await;
    let connector: Connector = builder(&mock).http2_only(true).build().unwrap();
    let uses = concurrently(&connector, &mock, 16).await;
    assert!(uses.iter().all(|u| u.http2));
    assert_eq!(connector.stats().opened, 1);
    assert_eq!(mock.stats().connections, 1);

    // With ALPN (the default), a warm HTTP/2 connection takes the whole wave.
    let alpn: Connector = builder(&mock).build().unwrap();
    send(&alpn, embeddings(&mock)).await.unwrap();
    concurrently(&alpn, &mock, 16).await;
    assert_eq!(alpn.stats().opened, 1);
}

#[tokio::test]
async fn after_the_idle_timeout_a_new_connection_is_opened() {
    let mock = MockServer::start(MockConfig::default().tls(true))
        .await
        .unwrap();
    let connector: Connector = builder(&mock)
        .idle_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let first = send(&connector, embeddings(&mock)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = send(&connector, embeddings(&mock)).await.unwrap();
    assert!(!second.reused);
    assert_ne!(first.connection_id, second.connection_id);
    assert_eq!(connector.stats().opened, 2);
    assert_eq!(mock.stats().connections, 2);
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_does_not_fail_the_next_request() {
    let mock = MockServer::start(
        MockConfig::default()
            .tls(true)
            .idle_timeout(Some(Duration::from_millis(100))),
    )
    .await
    .unwrap();
    let connector: Connector = builder(&mock).http1_only(true).build().unwrap();
    send(&connector, embeddings(&mock)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = send(&connector, embeddings(&mock)).await.unwrap();
    assert!(!again.reused, "the closed connection was replaced");
    assert_eq!(connector.stats().opened, 2);
}

#[tokio::test]
async fn an_unknown_root_is_a_tls_error() {
    let mock = MockServer::start(MockConfig::default().tls(true))
        .await
        .unwrap();
    for connector in [
        HyperConnector::builder().build::<Full<Bytes>>().unwrap(),
        HyperConnector::builder()
            .roots(Roots::None)
            .build::<Full<Bytes>>()
            .unwrap(),
    ] {
        let error = send(&connector, embeddings(&mock)).await.unwrap_err();
        assert!(matches!(error, ConnectorError::Tls(_)), "{error:?}");
        assert_eq!(error.kind(), "tls");
        assert!(error.request_not_sent());
    }
    assert_eq!(mock.stats().requests_total, 0);
}

#[tokio::test]
async fn refused_connections_and_stalled_handshakes_are_typed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let connector: Connector = HyperConnector::builder()
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let refused = http::Request::post(format!("http://127.0.0.1:{port}/v1/embeddings"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = send(&connector, refused).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Connect(_)), "{error:?}");

    // A server that accepts TCP but never answers the TLS handshake.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let stalled = http::Request::post(format!("https://localhost:{port}/v1/embeddings"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = send(&connector, stalled).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Timeout(_)), "{error:?}");
    keep.abort();
}

#[tokio::test]
async fn a_reset_connection_is_upstream_closed() {
    let mock = MockServer::start(MockConfig::default().tls(true))
        .await
        .unwrap();
    let connector: Connector = builder(&mock).build().unwrap();
    let mut request = embeddings(&mock);
    request
        .headers_mut()
        .insert("x-mock-fault", "reset".parse().unwrap());
    let error = send(&connector, request).await.unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::UpstreamClosed(_) | ConnectorError::Io(_)
        ),
        "{error:?}"
    );
    assert!(!error.request_not_sent());
}

#[tokio::test]
async fn max_in_flight_caps_concurrent_connections() {
    let mock = MockServer::start(
        MockConfig::default()
            .tls(true)
            .latency(Duration::from_millis(40)),
    )
    .await
    .unwrap();
    let connector: Connector = builder(&mock)
        .http1_only(true)
        .max_in_flight(Some(2))
        .build()
        .unwrap();
    concurrently(&connector, &mock, 8).await;
    assert!(connector.stats().opened <= 2, "{:?}", connector.stats());
    assert_eq!(connector.stats().requests, 8);
}

#[test]
fn pool_figures_reach_the_metrics_recorder() {
    let (_, seen) = llm_layers_mock::testing::recorded(|| async {
        let mock = MockServer::start(MockConfig::default().tls(true))
            .await
            .unwrap();
        let connector: Connector = builder(&mock).build().unwrap();
        for _ in 0..3 {
            send(&connector, embeddings(&mock)).await.unwrap();
        }
    });
    let opened = seen.counter("llm_connector_connections_opened_total", &[]);
    let new = seen.counter("llm_connector_requests_total", &[("connection", "new")]);
    let reused = seen.counter("llm_connector_requests_total", &[("connection", "reused")]);
    let tls_samples = seen
        .histogram("llm_connector_handshake_seconds", &[("phase", "tls")])
        .len();
    assert_eq!((opened, new, reused, tls_samples), (1, 1, 2, 1));
}

/// A streamed chat request: its answer stays open while the mock waits
/// between chunks.
fn streamed_chat(mock: &MockServer) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hold"}]}"#,
        )))
        .unwrap()
}

/// `count` requests at once whose answers are all held open (heads read,
/// bodies not): the connection each came over. A request queued behind a
/// full connection never gets its head, so the wait is bounded.
async fn held_open(
    connector: &Connector,
    mock: &MockServer,
    count: usize,
) -> (
    Vec<ConnectionUse>,
    Vec<http::Response<llm_layers_connector::UpstreamBody>>,
) {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (connector, request) = (connector.clone(), streamed_chat(mock));
            tokio::spawn(async move { connector.oneshot(request).await.unwrap() })
        })
        .collect();
    let mut uses = Vec::new();
    let mut held = Vec::new();
    for task in tasks {
        let response = tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("every request gets its answer's head: none is queued behind a full connection")
            .unwrap();
        assert_eq!(response.status(), 200);
        uses.push(
            response
                .extensions()
                .get::<ConnectionUse>()
                .cloned()
                .unwrap(),
        );
        held.push(response);
    }
    (uses, held)
}

/// How many requests each connection carried.
fn per_connection(uses: &[ConnectionUse]) -> std::collections::BTreeMap<u64, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for connection in uses {
        *counts.entry(connection.connection_id).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_full_http2_connection_makes_the_pool_open_another() {
    for tls in [false, true] {
        // Two streams per connection, and answers that stay open.
        let mock = MockServer::start(
            MockConfig::default()
                .tls(tls)
                .http2_max_concurrent_streams(Some(2))
                .chunk_delay(Duration::from_secs(60)),
        )
        .await
        .unwrap();
        // Plain HTTP speaks HTTP/2 by prior knowledge; TLS by ALPN.
        let connector: Connector = builder(&mock).http2_only(!tls).build().unwrap();
        let (uses, held) = held_open(&connector, &mock, 8).await;
        assert!(uses.iter().all(|u| u.http2), "tls {tls}");
        let counts = per_connection(&uses);
        assert_eq!(counts.len(), 4, "tls {tls}: {counts:?}");
        assert!(counts.values().all(|&n| n == 2), "tls {tls}: {counts:?}");
        assert_eq!(connector.stats().opened, 4);
        assert_eq!(mock.stats().connections, 4);

        // Streams ended free their places: the next wave reuses them.
        drop(held);
        let (uses, held) = held_open(&connector, &mock, 8).await;
        assert!(uses.iter().all(|u| u.reused), "tls {tls}");
        assert_eq!(connector.stats().opened, 4, "tls {tls}");
        drop(held);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_never_open_more_connections_than_there_are_callers() {
    // Connections take a while to set up (TLS, and a delay standing for
    // network round trips), so a connection opened on a race lives on.
    let mock = MockServer::start(
        MockConfig::default()
            .tls(true)
            .connect_delay(Duration::from_millis(20)),
    )
    .await
    .unwrap();
    let connector: Connector = builder(&mock).http1_only(true).build().unwrap();
    const CALLERS: usize = 8;
    // Each caller sends its next request as soon as it has read the last
    // answer: the moment a returned connection is not yet ready again is
    // when a pool that races a new connection against it opens one more.
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (connector, mock) = (connector.clone(), mock.base_url().to_owned());
            tokio::spawn(async move {
                for _ in 0..60 {
                    let request = http::Request::post(format!("{mock}/v1/embeddings"))
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(
                            br#"{"model":"e","input":"hi"}"#,
                        )))
                        .unwrap();
                    let response = connector.clone().oneshot(request).await.unwrap();
                    response.into_body().collect().await.unwrap();
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let stats = connector.stats();
    assert_eq!(stats.requests, 8 * 60);
    assert!(stats.opened <= CALLERS as u64, "{stats:?}");
    assert_eq!(mock.stats().connections, stats.opened);

    // Eight answers held open at once need eight connections, and no more.
    let (uses, held) = held_open(&connector, &mock, CALLERS).await;
    assert_eq!(per_connection(&uses).len(), CALLERS);
    assert!(connector.stats().opened <= CALLERS as u64);
    drop(held);
}
