//! Concurrent identical misses make one upstream call (the mock's counter
//! says so), over the real connector on loopback.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{Cache, CacheLayer};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_mock::raw::{chunk, head, RawUpstream, Step, LAST_CHUNK};
use llm_layers_mock::testing::cache_and_body;
use llm_layers_mock::{MockConfig, MockServer};
use serde_json::json;
use tower::{Layer, ServiceExt};

type Client = Cache<HyperConnector<ReplayBody<Full<Bytes>>>>;

fn client(layer: &CacheLayer) -> Client {
    layer.layer(HyperConnector::builder().build().unwrap())
}

fn request(
    mock: &MockServer,
    stream: bool,
    text: &str,
    headers: &[(&str, &str)],
) -> http::Request<Full<Bytes>> {
    let body = json!({
        "model": "gpt-4o", "stream": stream,
        "messages": [{"role": "user", "content": text}]
    });
    let mut builder = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", "Bearer sk-flight");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// Sends, reads the whole body; returns the cache header and the body.
async fn fetch(
    client: Client,
    request: http::Request<Full<Bytes>>,
) -> (String, Result<Bytes, String>) {
    cache_and_body(client.oneshot(request).await.unwrap()).await
}

async fn many_identical(stream: bool) {
    let mock = MockServer::start(
        MockConfig::default()
            .latency(Duration::from_millis(200))
            .chunk_delay(Duration::from_millis(5)),
    )
    .await
    .unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            tokio::spawn(fetch(
                client.clone(),
                request(&mock, stream, "together", &[]),
            ))
        })
        .collect();
    let mut bodies = Vec::new();
    let mut misses = 0;
    for task in tasks {
        let (outcome, body) = task.await.unwrap();
        misses += usize::from(outcome == "MISS");
        bodies.push(body.unwrap());
    }
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
    assert_eq!(misses, 1);
    assert!(bodies.iter().all(|body| body == &bodies[0]));
    assert_eq!(layer.stats().stores, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_identical_requests_make_one_upstream_call() {
    many_identical(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_identical_streams_make_one_upstream_call() {
    many_identical(true).await;
}

/// Waits (bounded) until `done` holds.
async fn eventually(done: impl FnMut() -> bool) {
    assert!(
        llm_layers_mock::testing::eventually(done).await,
        "never happened"
    );
}

fn raw_request(upstream: &RawUpstream, text: &str) -> http::Request<Full<Bytes>> {
    let body =
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": text}]});
    http::Request::post(format!("{}/v1/chat/completions", upstream.base_url()))
        .header("authorization", "Bearer sk-flight")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

const FIRST: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
const REST: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n";

fn sse_head() -> String {
    head(
        200,
        &[
            ("content-type", "text/event-stream"),
            ("transfer-encoding", "chunked"),
        ],
    )
}

#[tokio::test]
async fn followers_receive_the_stream_live_from_the_first_chunk() {
    // The upstream sends its first chunk, then waits to be released: a
    // follower that has that chunk has it before the end, however loaded
    // the machine.
    let upstream = RawUpstream::start(vec![
        Step::write(sse_head()),
        Step::Write(chunk(FIRST)),
        Step::Stall,
        Step::Write(chunk(REST)),
        Step::write(LAST_CHUNK),
    ])
    .await
    .unwrap();
    let client = client(&CacheLayer::default());
    let leader = tokio::spawn(fetch(client.clone(), raw_request(&upstream, "live")));
    eventually(|| upstream.requests() == 1).await;
    let follower = client
        .clone()
        .oneshot(raw_request(&upstream, "live"))
        .await
        .unwrap();
    assert_eq!(follower.headers()["x-llm-cache"], "HIT");
    let mut body = follower.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, FIRST, "the first chunk, while the upstream waits");
    assert!(!leader.is_finished());
    upstream.release();
    let mut whole = first.to_vec();
    while let Some(frame) = body.frame().await {
        whole.extend_from_slice(&frame.unwrap().into_data().unwrap());
    }
    let (_, leader_body) = leader.await.unwrap();
    assert_eq!(Bytes::from(whole), leader_body.unwrap(), "same bytes");
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test]
async fn followers_of_a_failed_leader_make_their_own_calls() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let client = client(&CacheLayer::default());
    // The leader gets a slow 429; the mock's fault header is not part of the key.
    let leader = tokio::spawn(fetch(
        client.clone(),
        request(
            &mock,
            false,
            "fails",
            &[("x-mock-fault", "429"), ("x-mock-latency-ms", "200")],
        ),
    ));
    eventually(|| mock.stats().requests_total == 1).await;
    let followers: Vec<_> = (0..5)
        .map(|_| tokio::spawn(fetch(client.clone(), request(&mock, false, "fails", &[]))))
        .collect();
    let (leader_outcome, _) = leader.await.unwrap();
    assert_eq!(leader_outcome, "MISS");
    for follower in followers {
        let (_, body) = follower.await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
        assert_eq!(
            json["object"], "chat.completion",
            "each follower got a real answer"
        );
    }
    // The leader and every follower went upstream; at most the first
    // follower after the 429 led again and the rest followed it.
    let calls = mock.stats().requests_to("/v1/chat/completions");
    assert!((2..=6).contains(&calls), "{calls}");
}

#[tokio::test]
async fn followers_of_a_leader_cut_mid_stream_fail_and_nothing_is_stored() {
    // First chunk, a wait, then the connection closes inside the chunked
    // body: a cut.
    let upstream = RawUpstream::start(vec![
        Step::write(sse_head()),
        Step::Write(chunk(FIRST)),
        Step::Stall,
        Step::Close,
    ])
    .await
    .unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let leader = tokio::spawn(fetch(client.clone(), raw_request(&upstream, "cut")));
    eventually(|| upstream.requests() == 1).await;
    let follower = tokio::spawn(fetch(client.clone(), raw_request(&upstream, "cut")));
    eventually(|| layer.stats().hits == 1).await;
    upstream.release();
    let (outcome, body) = follower.await.unwrap();
    assert_eq!(outcome, "HIT");
    assert!(body.is_err(), "the follower's body fails like the leader's");
    assert!(leader.await.unwrap().1.is_err());
    assert_eq!(layer.stats().stores, 0);
    assert_eq!(upstream.requests(), 1);
}

#[tokio::test]
async fn different_keys_never_wait_on_each_other() {
    let stalled = RawUpstream::start(vec![Step::Stall]).await.unwrap();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let client = client(&CacheLayer::default());
    let slow = tokio::spawn(fetch(client.clone(), raw_request(&stalled, "slow")));
    eventually(|| stalled.requests() == 1).await;
    let (outcome, _) = fetch(client.clone(), request(&mock, false, "fast", &[])).await;
    assert_eq!(outcome, "MISS");
    assert!(
        !slow.is_finished(),
        "answered while the other key still waits"
    );
    slow.abort();
}
