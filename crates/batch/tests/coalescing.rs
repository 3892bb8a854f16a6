//! Concurrent embeddings requests through the layer, against the mock
//! provider over TCP: one upstream request for many callers, each caller
//! getting exactly what a direct call returns.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_batch::{BatchConfig, EmbeddingsBatchLayer};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_mock::{MockConfig, MockServer};
use serde_json::{json, Value};
use tower::{Layer, ServiceExt};

struct Answer {
    status: u16,
    batch_size: Option<String>,
    json: Value,
}

fn request(mock: &MockServer, body: &Value) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("{}/v1/embeddings", mock.base_url()))
        .header("authorization", "Bearer sk-batch")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn through(layer: &EmbeddingsBatchLayer, mock: &MockServer, body: Value) -> Answer {
    let client = layer.layer(
        HyperConnector::builder()
            .build::<ReplayBody<Full<Bytes>>>()
            .unwrap(),
    );
    let response = client.oneshot(request(mock, &body)).await.unwrap();
    let status = response.status().as_u16();
    let batch_size = response
        .headers()
        .get("x-llm-batch-size")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        batch_size,
        json: serde_json::from_slice(&bytes).unwrap(),
    }
}

/// What the same body gets sent directly, without the layer.
async fn direct(mock: &MockServer, body: Value) -> Value {
    let client = HyperConnector::builder().build::<Full<Bytes>>().unwrap();
    let response = client.oneshot(request(mock, &body)).await.unwrap();
    serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

fn embedding(text: &str) -> Value {
    json!({"model": "text-embedding-3-small", "input": text})
}

#[tokio::test]
async fn sixty_four_callers_share_at_most_four_requests_and_get_their_own_vectors() {
    let mock = MockServer::start(MockConfig::default().latency(Duration::from_millis(20)))
        .await
        .unwrap();
    let layer = EmbeddingsBatchLayer::new(BatchConfig::default().window(Duration::from_millis(20)));
    let calls = (0..64).map(|i| through(&layer, &mock, embedding(&format!("sentence number {i}"))));
    let answers = futures_util::future::join_all(calls).await;
    let upstream = mock.stats().requests_total;
    assert!(upstream <= 4, "{upstream} upstream requests for 64 callers");
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.status, 200);
        let alone = direct(&mock, embedding(&format!("sentence number {i}"))).await;
        assert_eq!(
            answer.json["data"], alone["data"],
            "caller {i} got its own vector at index 0"
        );
        assert_eq!(
            answer.json["usage"], alone["usage"],
            "caller {i}'s share of usage"
        );
        assert_eq!(answer.json["model"], alone["model"]);
    }
    let stats = layer.stats();
    assert_eq!(stats.requests_saved, 64 - upstream);
    assert_eq!(stats.inputs, 64);
    assert!(answers
        .iter()
        .any(|a| a.batch_size.as_deref().is_some_and(|n| n != "1")));
}

#[tokio::test]
async fn strings_arrays_and_token_arrays_coalesce_and_usage_adds_up() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = EmbeddingsBatchLayer::new(BatchConfig::default().window(Duration::from_millis(50)));
    let bodies = [
        json!({"model": "e", "input": "one"}),
        json!({"model": "e", "input": ["two", "three", "four"]}),
        json!({"model": "e", "input": "five six seven eight"}),
        json!({"model": "e", "input": [1, 2, 3]}),
        json!({"model": "e", "input": [[4, 5], [6]]}),
    ];
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| through(&layer, &mock, b.clone())))
            .await;
    assert_eq!(mock.stats().requests_total, 2, "one request per input form");
    let mut batched_tokens = 0;
    let mut direct_tokens = 0;
    for (body, answer) in bodies.iter().zip(&answers) {
        let alone = direct(&mock, body.clone()).await;
        assert_eq!(answer.json["data"], alone["data"], "{body}");
        let indexes: Vec<u64> = answer.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, (0..indexes.len() as u64).collect::<Vec<_>>());
        batched_tokens += answer.json["usage"]["prompt_tokens"].as_u64().unwrap();
        direct_tokens += alone["usage"]["prompt_tokens"].as_u64().unwrap();
        assert_eq!(
            answer.json["usage"]["prompt_tokens"],
            answer.json["usage"]["total_tokens"]
        );
    }
    assert_eq!(
        batched_tokens, direct_tokens,
        "the shares add up to the upstream's totals"
    );
}

#[tokio::test]
async fn a_member_with_a_bad_input_fails_alone() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = EmbeddingsBatchLayer::new(BatchConfig::default().window(Duration::from_millis(50)));
    let bodies = [embedding("fine"), embedding(""), embedding("also fine")];
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| through(&layer, &mock, b.clone())))
            .await;
    assert_eq!(answers[1].status, 400, "{}", answers[1].json);
    assert_eq!(answers[1].json["error"]["type"], "invalid_request_error");
    for i in [0, 2] {
        assert_eq!(answers[i].status, 200);
        assert_eq!(
            answers[i].json["data"],
            direct(&mock, bodies[i].clone()).await["data"]
        );
    }
    assert_eq!(
        mock.stats().requests_total,
        1 + 3 + 2,
        "the batch, each member once, the checks"
    );
    assert_eq!(layer.stats().failed, 1);
}

#[tokio::test]
async fn base64_vectors_and_separate_parameters() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = EmbeddingsBatchLayer::new(BatchConfig::default().window(Duration::from_millis(50)));
    let base64 = |text: &str| json!({"model": "e", "input": text, "encoding_format": "base64"});
    let small = json!({"model": "e", "input": "short", "dimensions": 8});
    let bodies = [base64("a"), base64("b"), small.clone()];
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| through(&layer, &mock, b.clone())))
            .await;
    assert_eq!(
        mock.stats().requests_total,
        2,
        "other dimensions, another request"
    );
    for (body, answer) in bodies.iter().zip(&answers) {
        assert_eq!(
            answer.json["data"],
            direct(&mock, body.clone()).await["data"]
        );
    }
    assert!(answers[0].json["data"][0]["embedding"].is_string());
    assert_eq!(answers[2].batch_size, None, "alone: sent as it came");
}

#[tokio::test]
async fn a_caller_that_hangs_up_costs_the_others_nothing() {
    let mock = MockServer::start(MockConfig::default().latency(Duration::from_millis(100)))
        .await
        .unwrap();
    let layer = EmbeddingsBatchLayer::new(BatchConfig::default().window(Duration::from_millis(30)));
    let leaving = through(&layer, &mock, embedding("gone"));
    let staying = [embedding("stay one"), embedding("stay two")];
    let stayers =
        futures_util::future::join_all(staying.iter().map(|b| through(&layer, &mock, b.clone())));
    // The first caller gives up while its batch is upstream.
    let (_, answers) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(60), leaving),
        stayers
    );
    for (body, answer) in staying.iter().zip(&answers) {
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.json["data"],
            direct(&mock, body.clone()).await["data"]
        );
    }
}

#[tokio::test]
async fn other_apis_pass_through_untouched() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = EmbeddingsBatchLayer::default();
    let client = layer.layer(
        HyperConnector::builder()
            .build::<ReplayBody<Full<Bytes>>>()
            .unwrap(),
    );
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-llm-batch-size").is_none());
    assert_eq!(layer.stats().batches, 0);
}
