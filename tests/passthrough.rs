//! What a layer does with a request body before it knows anything: buffer
//! it up to a limit, work out the facts, store them, forward the body.
//! Whatever the body is, the upstream (the real mock, over TCP) receives it
//! byte for byte.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers::core::body::ReplayBody;
use llm_layers::core::facts::with_facts;
use llm_layers::core::{ApiKind, Opaque, RequestFacts};
use llm_layers_mock::{MockConfig, MockServer};

const LIMIT: usize = 4096;

/// Buffers, records facts, forwards; returns the facts, the status and the
/// answer's body.
async fn through_layer(
    server: &MockServer,
    body: Bytes,
) -> (RequestFacts, http::StatusCode, Bytes) {
    let request = http::Request::post(format!("{}/v1/chat/completions", server.base_url()))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    // The real code every layer runs first.
    let request = with_facts(request, LIMIT).await;
    let facts = RequestFacts::from_extensions(request.extensions())
        .cloned()
        .expect("with_facts stores the facts");
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (facts, status, bytes)
}

fn last_body(server: &MockServer) -> Bytes {
    server.recent_requests().last().unwrap().body.clone()
}

#[tokio::test]
async fn understood_requests_arrive_unchanged() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let body = Bytes::from_static(
        br#"{ "model": "gpt-4o", "messages": [ {"role":"user","content":"hi"} ] }"#,
    );
    let (facts, status, _) = through_layer(&server, body.clone()).await;
    assert_eq!(facts.kind(), ApiKind::OpenAiChat);
    assert!(facts.is_understood());
    assert_eq!(status, 200);
    assert_eq!(last_body(&server), body);
}

#[tokio::test]
async fn malformed_json_is_opaque_and_the_upstream_error_comes_back_unchanged() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let body = Bytes::from_static(b"{\"model\": \"gpt-4o\", \"messages\": [\xff");
    let (facts, status, answer) = through_layer(&server, body.clone()).await;
    assert_eq!(facts.opaque_reason(), Some(Opaque::NotJson));
    assert_eq!(facts.kind(), ApiKind::Unknown);
    assert_eq!(last_body(&server), body);
    assert_eq!(status, 400);
    let error: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn bodies_over_the_limit_are_not_buffered_but_forwarded_whole() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let content = "x".repeat(LIMIT * 3);
    let body = Bytes::from(format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{content}"}}]}}"#
    ));
    let (facts, status, _) = through_layer(&server, body.clone()).await;
    assert_eq!(facts.opaque_reason(), Some(Opaque::TooLarge));
    assert_eq!(facts.canonical_key(), None);
    assert_eq!(status, 200, "the upstream still answers");
    assert_eq!(last_body(&server), body);
}
