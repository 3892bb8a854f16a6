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
    let stats = common::stats(&batching.url()).await;
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

async fn admin(
    proxy: &RunningProxy,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, serde_json::Value) {
    let mut all = vec![("authorization", "Bearer admin")];
    all.extend_from_slice(headers);
    let answer = common::request(
        false,
        method,
        &format!("{}{path}", proxy.url()),
        &all,
        Bytes::from(body),
    )
    .await
    .unwrap();
    (
        answer.status,
        serde_json::from_slice(&answer.body).unwrap_or_default(),
    )
}

fn chat(i: usize) -> serde_json::Value {
    serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("question {i}")}]})
}

#[tokio::test]
async fn twenty_requests_filled_by_a_batch_job_are_then_twenty_hits() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url())
            .admin_token(Some("admin".into()))
            .batch(BatchSection::default().poll_interval(Duration::from_millis(20))),
    )
    .await
    .unwrap();
    let requests: Vec<_> = (0..20)
        .map(|i| serde_json::json!({"url": "/v1/chat/completions", "body": chat(i)}))
        .collect();
    let submission = serde_json::json!({"requests": requests}).to_string();
    let upstream_key = [("x-upstream-authorization", "Bearer sk-batch-owner")];
    let (status, job) = admin(&proxy, "POST", "/admin/batches", &upstream_key, submission).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let mut job = job;
    for _ in 0..500 {
        if job["state"] == "done" || job["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        job = admin(
            &proxy,
            "GET",
            &format!("/admin/batches/{id}"),
            &[],
            String::new(),
        )
        .await
        .1;
    }
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["stored"], 20);
    for i in 0..20 {
        let answer = common::request(
            false,
            "POST",
            &format!("{}/v1/chat/completions", proxy.url()),
            &[("authorization", "Bearer sk-batch-owner")],
            Bytes::from(chat(i).to_string()),
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["x-llm-cache"], "HIT", "request {i}");
    }
    assert_eq!(
        mock.stats().requests_to("/v1/chat/completions"),
        0,
        "no chat call upstream"
    );
    // Another key never reads the batch's answers.
    let other = common::request(
        false,
        "POST",
        &format!("{}/v1/chat/completions", proxy.url()),
        &[("authorization", "Bearer sk-someone-else")],
        Bytes::from(chat(0).to_string()),
    )
    .await
    .unwrap();
    assert_eq!(other.headers["x-llm-cache"], "MISS");
    let stats = common::stats(&proxy.url()).await;
    assert_eq!(stats["batches"][0]["stored"], 20);
    // The admin token guards the routes.
    let refused = common::request(
        false,
        "GET",
        &format!("{}/admin/batches/{id}", proxy.url()),
        &[],
        "",
    )
    .await
    .unwrap();
    assert_eq!(refused.status, 401);
    proxy.shutdown().await.unwrap();
}
