//! The admin token and what the public routes show, over HTTP/1.1 and
//! HTTP/2 alike.

use bytes::Bytes;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::config::ConfigError;
use llm_layers_proxy::{start, ProxyConfig, RunningProxy, StartError};

/// A prompt long enough for OpenAI's cache (shorter ones are not tracked
/// per prefix: no provider caches them).
fn chat() -> String {
    let rules = "Keep tenant A's secrets. ".repeat(120);
    serde_json::json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": format!("You are the secret assistant of tenant A. {rules}")},
        {"role": "user", "content": "hi"}]})
    .to_string()
}

mod common;

async fn send(
    http2: bool,
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Bytes) {
    let answer = common::request(http2, method, url, headers, body.to_owned())
        .await
        .unwrap();
    (answer.status, answer.body)
}

async fn proxy(mock: &MockServer) -> RunningProxy {
    start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url().to_owned())
            .admin_token(Some("admin-secret".into())),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn an_empty_admin_token_is_refused_at_start() {
    for token in ["", "  "] {
        let refused = start(
            ProxyConfig::default()
                .listen("127.0.0.1:0".parse().unwrap())
                .admin_token(Some(token.into()))
                .mock(true),
        )
        .await;
        assert!(
            matches!(
                refused,
                Err(StartError::Config(ConfigError::EmptyAdminToken))
            ),
            "{token:?} was accepted"
        );
    }
}

#[test]
fn the_binary_exits_non_zero_on_an_empty_admin_token() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_llm-layers-proxy"))
        .args(["--mock", "--listen", "127.0.0.1:0", "--admin-token", ""])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("admin token is empty"), "{stderr}");
}

#[tokio::test]
async fn the_token_is_checked_the_same_over_http1_and_http2() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(&mock).await;
    let stats = format!("{}/admin/cache/stats", proxy.url());
    for http2 in [false, true] {
        for refused in [
            "Bearer ",
            "Bearer",
            "Bearer  ",
            "Basic admin-secret",
            "Bearer admin",
        ] {
            let (status, _) = send(http2, &stats, "GET", &[("authorization", refused)], "").await;
            assert_eq!(status, 401, "{refused:?} over http2={http2}");
        }
        for allowed in [
            "Bearer admin-secret",
            "bearer admin-secret",
            "Bearer admin-secret ",
        ] {
            let (status, _) = send(http2, &stats, "GET", &[("authorization", allowed)], "").await;
            assert_eq!(status, 200, "{allowed:?} over http2={http2}");
        }
    }
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn per_prefix_figures_need_the_admin_token() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(&mock).await;
    let url = format!("{}/v1/chat/completions", proxy.url());
    let (status, _) = send(
        false,
        &url,
        "POST",
        &[("authorization", "Bearer sk-a")],
        &chat(),
    )
    .await;
    assert_eq!(status, 200);
    let admin = [("authorization", "Bearer admin-secret")];

    let stats_url = format!("{}/stats", proxy.url());
    let (_, public) = send(false, &stats_url, "GET", &[], "").await;
    let public: serde_json::Value = serde_json::from_slice(&public).unwrap();
    assert!(public.get("prefix").is_none(), "{public}");
    assert!(public["calls"]["total_calls"].as_u64().unwrap() >= 1);
    let (_, private) = send(false, &stats_url, "GET", &admin, "").await;
    let private: serde_json::Value = serde_json::from_slice(&private).unwrap();
    assert!(
        !private["prefix"].as_array().unwrap().is_empty(),
        "{private}"
    );

    let metrics_url = format!("{}/metrics", proxy.url());
    let (_, public) = send(false, &metrics_url, "GET", &[], "").await;
    let public = String::from_utf8(public.to_vec()).unwrap();
    assert!(public.contains("llm_requests_total"), "{public}");
    assert!(!public.contains("prefix=\""), "{public}");
    let (_, private) = send(false, &metrics_url, "GET", &admin, "").await;
    let private = String::from_utf8(private.to_vec()).unwrap();
    assert!(private.contains("llm_prefix_requests_total{"), "{private}");
    proxy.shutdown().await.unwrap();
}
