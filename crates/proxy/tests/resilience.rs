//! The proxy's retries and circuit breakers, on by default, against the
//! mock on loopback.

use std::time::Duration;

use bytes::Bytes;
use llm_layers_mock::{Fault, MockConfig, MockServer};
use llm_layers_proxy::config::{BreakerSection, RetrySection};
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};

mod common;

async fn proxy_for(mock: &MockServer, config: ProxyConfig) -> RunningProxy {
    start(
        config
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url()),
    )
    .await
    .unwrap()
}

fn chat(text: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{text}"}}]}}"#
    ))
}

async fn post(proxy: &RunningProxy, headers: &[(&str, &str)], body: Bytes) -> common::Answer {
    let url = format!("{}/v1/chat/completions", proxy.url());
    common::request(false, "POST", &url, headers, body)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failed_call_is_retried_by_default() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let fast = RetrySection::default().base_delay(Duration::from_millis(10));
    let proxy = proxy_for(&mock, ProxyConfig::default().retry(fast)).await;
    let faults = [
        ("authorization", "Bearer sk-retry"),
        ("x-mock-fault", "503"),
        ("x-mock-fault-times", "1"),
    ];
    let answer = post(&proxy, &faults, chat("retried")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 2);
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_storm_opens_the_breaker_and_stats_show_it() {
    let mock = MockServer::start(MockConfig::default().fault(Some(Fault::ServerError)))
        .await
        .unwrap();
    let config = ProxyConfig::default()
        .retry(RetrySection::default().enabled(false))
        .breaker(BreakerSection::default().min_calls(4));
    let proxy = proxy_for(&mock, config).await;
    let key = [("authorization", "Bearer sk-storm")];
    for call in 0..4 {
        let answer = post(&proxy, &key, chat(&format!("storm {call}"))).await;
        assert_eq!(answer.status, 500);
    }
    let refused = post(&proxy, &key, chat("refused")).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.headers["x-llm-circuit"], "open");
    assert!(refused.headers.contains_key("retry-after"));
    let error: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(error["error"]["type"], "service_unavailable");
    assert_eq!(
        mock.stats().requests_total,
        4,
        "the open breaker kept it back"
    );
    let stats = common::request(
        false,
        "GET",
        &format!("{}/stats", proxy.url()),
        &[],
        Bytes::new(),
    )
    .await
    .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    let breaker = &stats["breakers"][0];
    assert_eq!(breaker["state"], "open");
    assert_eq!(breaker["model"], "gpt-4o");
    assert_eq!(breaker["origin"], mock.base_url());
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_spent_quota_holds_that_key_and_model_back() {
    use llm_layers_proxy::config::{RateLimitSection, SpentQuota};

    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let config = ProxyConfig::default()
        .rate_limit(RateLimitSection::default().when_spent(SpentQuota::FailFast));
    let proxy = proxy_for(&mock, config).await;
    let spend = [
        ("authorization", "Bearer sk-quota"),
        ("x-mock-remaining-requests", "0"),
        ("x-mock-ratelimit-reset-ms", "60000"),
    ];
    assert_eq!(post(&proxy, &spend, chat("last")).await.status, 200);
    let held = post(
        &proxy,
        &[("authorization", "Bearer sk-quota")],
        chat("held"),
    )
    .await;
    assert_eq!(held.status, 429);
    assert_eq!(held.headers["x-llm-rate-limit"], "spent");
    let other = post(
        &proxy,
        &[("authorization", "Bearer sk-other")],
        chat("other"),
    )
    .await;
    assert_eq!(other.status, 200, "another key goes on");
    assert_eq!(mock.stats().requests_total, 2);
    proxy.shutdown().await.unwrap();
}
