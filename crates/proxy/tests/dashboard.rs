//! The live dashboard: one page, no external assets, behind the admin
//! token when one is set, drawing the figures of `/stats`: checked without
//! a browser (the page and the data it reads) and in headless Chromium
//! (figures drawn from a proxy that served traffic).

use std::time::Duration;

use bytes::Bytes;
use llm_layers_mock::testing::Chromium;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};

mod common;

async fn proxy(mock: &MockServer, token: Option<&str>) -> RunningProxy {
    start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url())
            .admin_token(token.map(str::to_owned)),
    )
    .await
    .unwrap()
}

async fn traffic(proxy: &RunningProxy) {
    let url = format!("{}/v1/chat/completions", proxy.url());
    for text in ["one", "two", "one"] {
        let body = format!(
            r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"{text}"}}]}}"#
        );
        let answer = common::request(
            false,
            "POST",
            &url,
            &[("authorization", "Bearer sk-d")],
            Bytes::from(body),
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 200);
    }
}

#[tokio::test]
async fn the_page_has_no_external_assets_and_stats_has_what_it_draws() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(&mock, None).await;
    traffic(&proxy).await;
    let page = common::request(false, "GET", &format!("{}/dashboard", proxy.url()), &[], "")
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    for external in [
        "src=\"http",
        "href=\"http",
        "<link",
        "<script src",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(external), "an external asset: {external}");
    }
    let stats = common::stats(&proxy.url()).await;
    let calls = &stats["calls"];
    for figure in [
        "total_calls",
        "cache_hit_rate",
        "total_cost_usd",
        "total_cost_saved_usd",
        "errors",
        "alerts",
    ] {
        assert!(
            !calls[figure].is_null(),
            "the page reads calls.{figure}: {stats}"
        );
        assert!(html.contains(figure), "the page draws {figure}");
    }
    let model = &calls["by_model"]["gpt-4o-mini"];
    for figure in [
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "cost_usd",
        "cost_saved_usd",
        "tokens_by_kind",
        "tokens_saved",
    ] {
        assert!(!model[figure].is_null(), "the page reads {figure}: {model}");
        assert!(html.contains(figure));
    }
    assert!(!stats["pool"]["reuse_ratio"].is_null());
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn with_an_admin_token_the_browser_is_asked_for_it() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(&mock, Some("s3cret")).await;
    let url = format!("{}/dashboard", proxy.url());
    let refused = common::request(false, "GET", &url, &[], "").await.unwrap();
    assert_eq!(refused.status, 401);
    assert!(refused.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    // "admin:s3cret" and "admin:wrong", base64.
    for (credential, status) in [
        ("Basic YWRtaW46czNjcmV0", 200),
        ("Basic YWRtaW46d3Jvbmc=", 401),
        ("Bearer s3cret", 200),
    ] {
        let answer = common::request(false, "GET", &url, &[("authorization", credential)], "")
            .await
            .unwrap();
        assert_eq!(answer.status, status, "{credential}");
    }
    proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_draws_the_figures_of_a_proxy_that_served_traffic() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(&mock, None).await;
    traffic(&proxy).await;
    let url = format!("{}/dashboard", proxy.url());
    let dom = tokio::task::spawn_blocking(move || chromium.dump_dom(&url, Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(
        dom.contains("data-drawn=\"true\""),
        "the page drew /stats: {dom}"
    );
    assert!(dom.contains("<b id=\"calls\">3</b>"), "three calls: {dom}");
    assert!(
        dom.contains("data-model=\"gpt-4o-mini\""),
        "a row per model: {dom}"
    );
    assert!(
        dom.contains("<b id=\"hit-rate\">33.3 %</b>"),
        "one hit in three: {dom}"
    );
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_grafana_dashboards_queries_name_metrics_the_proxy_exports() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(&mock, None).await;
    traffic(&proxy).await;
    let url = format!("{}/v1/chat/completions", proxy.url());
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"fail"}]}"#;
    let failing = [("authorization", "Bearer sk-d"), ("x-mock-fault", "400")];
    common::request(false, "POST", &url, &failing, body)
        .await
        .unwrap();
    let metrics = common::request(false, "GET", &format!("{}/metrics", proxy.url()), &[], "")
        .await
        .unwrap();
    let exported = String::from_utf8(metrics.body.to_vec()).unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../dashboards/grafana.json")).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            names.extend(
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|word| word.starts_with("llm_"))
                    .map(str::to_owned),
            );
        }
    }
    names.sort();
    names.dedup();
    // The alert gauge appears once an alert has fired; the others after this traffic.
    for name in names.iter().filter(|name| *name != "llm_alert") {
        assert!(
            exported.contains(name.as_str()),
            "{name} is not exported:\n{exported}"
        );
    }
    assert!(names.len() >= 7, "{names:?}");
    proxy.shutdown().await.unwrap();
}
