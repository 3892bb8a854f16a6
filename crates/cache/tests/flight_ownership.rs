//! The upstream call of a single flight belongs to the flight, not to the
//! client whose miss started it: that client hanging up, before the head
//! or mid-stream, costs the followers nothing, and the answer is stored.
//! A call nobody reads and that cannot be stored is abandoned. A leader
//! that reads slowly, or not at all, does not hold the followers back.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{Cache, CacheConfig, CacheLayer};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_mock::raw::{chunk, head, RawUpstream, Step};
use llm_layers_mock::{MockConfig, MockServer};
use serde_json::json;
use tower::{Layer, ServiceExt};

type Client = Cache<HyperConnector<ReplayBody<Full<Bytes>>>>;

fn client(layer: &CacheLayer) -> Client {
    layer.layer(HyperConnector::builder().build().unwrap())
}

fn request(base_url: &str, text: &str) -> http::Request<Full<Bytes>> {
    let body = json!({
        "model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": text}]
    });
    http::Request::post(format!("{base_url}/v1/chat/completions"))
        .header("authorization", "Bearer sk-owner")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn fetch(client: Client, request: http::Request<Full<Bytes>>) -> (String, Bytes) {
    let (outcome, body) = cache_and_body(client.oneshot(request).await.unwrap()).await;
    (outcome, body.unwrap())
}

/// Reads the first chunk of a call's answer, then hangs up.
async fn hang_up_after_one_chunk(client: &Client, request: http::Request<Full<Bytes>>) {
    let response = client.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-llm-cache"], "MISS");
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
}

/// Awaits the followers: every one a HIT with the same whole stream; that
/// stream.
async fn all_hits(followers: Vec<tokio::task::JoinHandle<(String, Bytes)>>) -> Bytes {
    let mut bodies = Vec::new();
    for follower in followers {
        let (outcome, body) = follower.await.unwrap();
        assert_eq!(outcome, "HIT");
        bodies.push(body);
    }
    assert!(bodies.iter().all(|body| body == &bodies[0]));
    assert!(
        bodies[0].ends_with(b"data: [DONE]\n\n"),
        "the followers got the whole stream"
    );
    bodies.swap_remove(0)
}

use llm_layers_mock::testing::{cache_and_body, eventually};

fn slow_mock_config() -> MockConfig {
    MockConfig::default()
        .latency(Duration::from_millis(200))
        .chunk_delay(Duration::from_millis(20))
}

#[tokio::test]
async fn a_leader_hanging_up_mid_stream_costs_the_followers_nothing() {
    let mock = MockServer::start(slow_mock_config()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let leader = client
        .clone()
        .oneshot(request(&mock.base_url(), "mid"))
        .await
        .unwrap();
    assert_eq!(leader.headers()["x-llm-cache"], "MISS");
    let followers: Vec<_> = (0..10)
        .map(|_| tokio::spawn(fetch(client.clone(), request(&mock.base_url(), "mid"))))
        .collect();
    let mut leader_body = leader.into_body();
    leader_body.frame().await.unwrap().unwrap();
    drop(leader_body);
    let stream = all_hits(followers).await;
    let (again, body) = fetch(client.clone(), request(&mock.base_url(), "mid")).await;
    assert_eq!(again, "HIT", "the answer was stored");
    assert_eq!(body, stream);
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
}

#[tokio::test]
async fn a_leader_that_stops_reading_does_not_hold_the_followers_back() {
    let mock = MockServer::start(slow_mock_config()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let leader = client
        .clone()
        .oneshot(request(&mock.base_url(), "idle"))
        .await
        .unwrap();
    assert_eq!(leader.headers()["x-llm-cache"], "MISS");
    let mut leader_body = leader.into_body();
    leader_body.frame().await.unwrap().unwrap();
    // The leader holds its body and reads no further while the others
    // join and read the whole stream.
    let followers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(fetch(client.clone(), request(&mock.base_url(), "idle"))))
        .collect();
    let stream = all_hits(followers).await;
    assert!(stream.ends_with(b"data: [DONE]\n\n"));
    assert_eq!(layer.stats().stores, 1, "stored without the leader reading");
    // The leader still gets the whole answer when it reads on.
    let rest = leader_body.collect().await.unwrap().to_bytes();
    assert!(
        stream.ends_with(&rest),
        "the leader's rest is the stream's end"
    );
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
}

#[tokio::test]
async fn a_leader_hanging_up_before_the_head_leaves_one_call_for_all() {
    let mock = MockServer::start(slow_mock_config()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let leader = tokio::spawn(fetch(client.clone(), request(&mock.base_url(), "early")));
    assert!(
        eventually(|| mock.stats().requests_total == 1).await,
        "the leader's call reached the upstream"
    );
    let followers: Vec<_> = (0..10)
        .map(|_| tokio::spawn(fetch(client.clone(), request(&mock.base_url(), "early"))))
        .collect();
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    all_hits(followers).await;
    assert_eq!(
        mock.stats().requests_to("/v1/chat/completions"),
        1,
        "11 identical requests, one upstream call"
    );
    assert_eq!(layer.stats().stores, 1);
}

#[tokio::test]
async fn a_lone_caller_hanging_up_still_gets_its_answer_stored() {
    let mock = MockServer::start(slow_mock_config()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    hang_up_after_one_chunk(&client, request(&mock.base_url(), "lone")).await;
    assert!(
        eventually(|| layer.stats().stores == 1).await,
        "the call went on and stored its answer"
    );
    let (again, body) = fetch(client, request(&mock.base_url(), "lone")).await;
    assert_eq!(again, "HIT");
    assert!(body.ends_with(b"data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_call_nobody_reads_that_cannot_be_stored_is_abandoned() {
    // A long stream, larger than an entry may be from its first chunk.
    let event = format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "x".repeat(200)
    );
    let mut script = vec![Step::write(head(
        200,
        &[
            ("content-type", "text/event-stream"),
            ("transfer-encoding", "chunked"),
        ],
    ))];
    for _ in 0..600 {
        script.push(Step::Write(chunk(&event)));
        script.push(Step::Pause(Duration::from_millis(50)));
    }
    let upstream = RawUpstream::start(script).await.unwrap();
    let layer = CacheLayer::new(CacheConfig::default().max_entry_bytes(100));
    let client = client(&layer);
    hang_up_after_one_chunk(&client, request(&upstream.base_url(), "abandon")).await;
    assert!(
        eventually(|| upstream.connections_closed() == 1).await,
        "the upstream connection was dropped long before the stream's 30 s end"
    );
    assert_eq!(layer.stats().stores, 0);
    assert_eq!(layer.stats().not_stored.get("too_large"), Some(&1));
}
