//! Credentials never reach the logs, even at the most verbose level.
//! (Its own test binary: it installs the process-wide subscriber.)

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers_mock::testing::CapturedLogs;
use llm_layers_mock::{MockConfig, MockServer};

mod common;

#[tokio::test]
async fn trace_logs_never_show_a_credential() {
    let captured = CapturedLogs::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .init();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = common::proxy_before(&mock).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for (path, header) in [
        ("/v1/chat/completions", "authorization"),
        ("/anthropic/v1/messages", "x-api-key"),
    ] {
        let body = r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
        let request = http::Request::post(format!("{}{path}", proxy.url()))
            .header(header, "Bearer sk-very-secret-0123456789")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let response = client.request(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    // Gemini's key in the query.
    let gemini = "/gemini/v1beta/models/m:generateContent?key=sk-very-secret-0123456789";
    let body = r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
    let request = http::Request::post(format!("{}{gemini}", proxy.url()))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    proxy.shutdown().await.unwrap();
    let logs = captured.text();
    assert!(logs.contains("request"), "the requests were logged: {logs}");
    assert!(
        !logs.contains("sk-very-secret"),
        "a credential reached the logs"
    );
}
