//! Misses through the proxy's whole default stack are counted as the calls
//! they are: an answer of a declared length, which the server stops
//! writing at its last byte, is a completed call, not a caller going
//! away, and its tokens are counted once.

use llm_layers_mock::{MockConfig, MockServer};

mod common;

#[tokio::test]
async fn misses_with_a_length_are_completed_calls_not_cancelled_ones() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = common::proxy_before(&mock).await;
    let url = format!("{}/v1/chat/completions", proxy.url());
    let mut input_tokens = 0;
    for at in 0..5 {
        let body =
            format!(r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"miss {at}"}}]}}"#);
        let answer = common::request(
            false,
            "POST",
            &url,
            &[("authorization", "Bearer sk-a")],
            body,
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["x-llm-cache"], "MISS");
        // The length the upstream declared reaches the client: the server
        // writes exactly that many bytes and stops.
        assert_eq!(
            answer.headers["content-length"],
            answer.body.len().to_string().as_str()
        );
        let answer: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        input_tokens += answer["usage"]["prompt_tokens"].as_u64().unwrap();
    }
    let stats = common::stats(&proxy.url()).await;
    let calls = &stats["calls"];
    assert_eq!(calls["total_calls"], 5);
    assert_eq!(calls["errors"], serde_json::json!({}), "{calls}");
    let model = &calls["by_model"]["gpt-4o"];
    assert_eq!(model["tokens_by_kind"]["input"], input_tokens, "{model}");
    proxy.shutdown().await.unwrap();
}
