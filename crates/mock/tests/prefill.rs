//! Prefill time: uncached prompt tokens delay the answer, cached ones do not.

use std::time::{Duration, Instant};

use llm_layers_mock::{MockConfig, MockServer};

#[tokio::test]
async fn cached_prefixes_skip_their_prefill_time() {
    let mock =
        MockServer::start(MockConfig::default().prefill_per_1k_tokens(Duration::from_millis(400)))
            .await
            .unwrap();
    let system = "static instructions ".repeat(300); // 6,000 bytes: 1,500 tokens
    let body = serde_json::json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": "go"}]})
    .to_string();
    let client = reqwest_like(&mock);
    let first = client(body.clone()).await;
    let second = client(body).await;
    assert!(
        first >= Duration::from_millis(600),
        "1,500 uncached tokens: {first:?}"
    );
    assert!(
        second + Duration::from_millis(300) < first,
        "the cached call skips most of the prefill: {second:?} vs {first:?}"
    );
}

fn reqwest_like(
    mock: &MockServer,
) -> impl Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Duration>>> {
    let url = format!("{}/v1/chat/completions", mock.base_url());
    move |body: String| {
        let url = url.clone();
        Box::pin(async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<http_body_util::Full<bytes::Bytes>>();
            let request = http::Request::post(url)
                .header("authorization", "Bearer sk-prefill")
                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .unwrap();
            let started = Instant::now();
            let response = client.request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            started.elapsed()
        })
    }
}
