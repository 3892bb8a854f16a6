//! Embeddings coalescing in the proxy (on by default): many concurrent
//! single-input calls, few upstream requests, each caller's own vector.

use std::time::Duration;

use bytes::Bytes;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::config::BatchSection;
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};

mod common;

async fn embed(url: String, text: String) -> serde_json::Value {
    let body = format!(r#"{{"model":"text-embedding-3-small","input":"{text}"}}"#);
    let answer = common::request(
        false,
        "POST",
        &format!("{url}/v1/embeddings"),
        &[("authorization", "Bearer sk-embed")],
        Bytes::from(body),
    )
    .await
    .unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    serde_json::from_slice(&answer.body).unwrap()
}

async fn proxy(mock: &MockServer, batch: BatchSection) -> RunningProxy {
    start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url())
            .batch(batch),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn sixty_four_concurrent_embeddings_calls_make_at_most_four_upstream_requests() {
    let mock = MockServer::start(MockConfig::default().latency(Duration::from_millis(20)))
        .await
        .unwrap();
    // The default window is 2 ms; a loaded test machine spreads 64 HTTP
    // requests wider than that, so the test widens it.
    let batching = proxy(
        &mock,
        BatchSection::default().window(Duration::from_millis(100)),
    )
    .await;
    let texts: Vec<String> = (0..64).map(|i| format!("document {i}")).collect();
    let answers = futures_util::future::join_all(
        texts.iter().map(|text| embed(batching.url(), text.clone())),
    )
    .await;
    let upstream = mock.stats().requests_to("/v1/embeddings");
    assert!(upstream <= 4, "{upstream} upstream requests");
    let stats: serde_json::Value = serde_json::from_slice(
        &common::request(false, "GET", &format!("{}/stats", batching.url()), &[], "")
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(stats["batch"]["requests_saved"], 64 - upstream);
    // Each caller's vector is the one a direct call returns.
    let direct = mock.base_url();
    for (text, answer) in texts.iter().zip(&answers) {
        assert_eq!(
            answer["data"],
            embed(direct.clone(), text.clone()).await["data"],
            "{text}"
        );
    }
    batching.shutdown().await.unwrap();

    let off = proxy(&mock, BatchSection::default().enabled(false)).await;
    mock.reset();
    futures_util::future::join_all((0..8).map(|i| embed(off.url(), format!("alone {i}")))).await;
    assert_eq!(
        mock.stats().requests_to("/v1/embeddings"),
        8,
        "--no-batch sends each alone"
    );
    off.shutdown().await.unwrap();
}
