//! The proxy's cost figures: the shipped price table, a `prices_file`
//! adding a model, and `/stats` showing dollars spent and saved.

use bytes::Bytes;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::config::MetricsSection;
use llm_layers_proxy::{start, ProxyConfig};

mod common;

#[tokio::test]
async fn stats_show_dollars_from_the_shipped_table_and_a_prices_file() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let file = std::env::temp_dir().join(format!("llm-layers-prices-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "[meta]\ndate = \"2026-12-02\"\nsources = [\"test\"]\n\n[models.\"house-model\"]\ninput = 1.0\noutput = 2.0\n",
    )
    .unwrap();
    let proxy = start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url())
            .metrics(MetricsSection::default().prices_file(Some(file.clone()))),
    )
    .await
    .unwrap();
    let ask = |model: &'static str| {
        let url = format!("{}/v1/chat/completions", proxy.url());
        async move {
            let body = format!(
                r#"{{"model":"{model}","messages":[{{"role":"user","content":"price me"}}]}}"#
            );
            let answer = common::request(
                false,
                "POST",
                &url,
                &[("authorization", "Bearer sk-c")],
                Bytes::from(body),
            )
            .await
            .unwrap();
            serde_json::from_slice::<serde_json::Value>(&answer.body).unwrap()
        }
    };
    let house = ask("house-model").await;
    let shipped = ask("gpt-4o-mini").await;
    ask("gpt-4o-mini").await; // a hit
    let stats = common::stats(&proxy.url()).await;
    std::fs::remove_file(&file).unwrap();
    let usage = |answer: &serde_json::Value| {
        (
            answer["usage"]["prompt_tokens"].as_f64().unwrap(),
            answer["usage"]["completion_tokens"].as_f64().unwrap(),
        )
    };
    let (input, output) = usage(&house);
    let house_cost = (input * 1.0 + output * 2.0) / 1e6;
    let models = &stats["calls"]["by_model"];
    assert!(
        (models["house-model"]["cost_usd"].as_f64().unwrap() - house_cost).abs() < 1e-12,
        "{stats}"
    );
    let (input, output) = usage(&shipped);
    let mini_cost = (input * 0.15 + output * 0.60) / 1e6;
    let mini = &models["gpt-4o-mini"];
    assert!(
        (mini["cost_usd"].as_f64().unwrap() - mini_cost).abs() < 1e-12,
        "{mini}"
    );
    assert!((mini["cost_saved_usd"]["response_cache"].as_f64().unwrap() - mini_cost).abs() < 1e-12);
    assert!(stats["calls"]["total_cost_usd"].as_f64().unwrap() > 0.0);
    proxy.shutdown().await.unwrap();
}
