//! Streamed OpenAI chat calls' usage, counted although the client asked
//! for none, and the client's stream exactly what it asked for, on a miss
//! and on a hit.

use bytes::Bytes;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig};

mod common;

#[tokio::test]
async fn usage_is_counted_and_the_client_gets_the_stream_it_asked_for() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url()),
    )
    .await
    .unwrap();
    let url = format!("{}/v1/chat/completions", proxy.url());
    let send = |body: String| {
        let url = url.clone();
        async move {
            common::request(
                false,
                "POST",
                &url,
                &[("authorization", "Bearer sk-u")],
                Bytes::from(body),
            )
            .await
            .unwrap()
        }
    };
    let plain = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"count me"}]}"#;
    let asked = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count me"}]}"#;
    let miss = send(plain.to_owned()).await;
    let hit = send(plain.to_owned()).await;
    assert_eq!(hit.headers["x-llm-cache"], "HIT");
    for answer in [&miss, &hit] {
        let text = String::from_utf8_lossy(&answer.body);
        assert!(!text.contains("usage"), "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"));
    }
    // The upstream was asked for usage; the client that asks gets it.
    let sent: serde_json::Value = serde_json::from_slice(&mock.recent_requests()[0].body).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    let with_usage = send(asked.to_owned()).await;
    assert_eq!(
        with_usage.headers["x-llm-cache"], "HIT",
        "the same upstream request"
    );
    assert!(String::from_utf8_lossy(&with_usage.body).contains("\"prompt_tokens\""));
    let stats = common::stats(&proxy.url()).await;
    let model = &stats["calls"]["by_model"]["gpt-4o-mini"];
    assert!(model["tokens"].as_u64().unwrap() > 0, "{model}");
    assert!(
        model["tokens_saved"]["input"].as_u64().unwrap() > 0,
        "hits' tokens saved: {model}"
    );
    assert_eq!(mock.stats().requests_total, 1);
    proxy.shutdown().await.unwrap();
}
