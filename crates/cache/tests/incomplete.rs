//! Only whole answers are stored: upstreams on loopback that end a stream
//! without its end marker, cut a JSON body, or send less than their
//! `Content-Length`. The caller gets exactly what was sent, every identical
//! request goes upstream again, and the reason is counted.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{Cache, CacheConfig, CacheLayer};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_mock::raw::{chunk, head, RawUpstream, Step, LAST_CHUNK};
use llm_layers_mock::testing::cache_and_body;
use tower::{Layer, ServiceExt};

type Client = Cache<HyperConnector<ReplayBody<Full<Bytes>>>>;

const CHAT: &str =
    r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_PLAIN: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str = r#"{"model":"claude-sonnet-4","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const RESPONSES: &str = r#"{"model":"gpt-4o","stream":true,"input":"hi"}"#;

const CHAT_EVENTS: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n";
const DONE: &str = "data: [DONE]\n\n";

fn layer() -> CacheLayer {
    CacheLayer::new(CacheConfig::default())
}

fn client(layer: &CacheLayer) -> Client {
    layer.layer(HyperConnector::builder().build().unwrap())
}

struct Outcome {
    cache: String,
    body: Result<Bytes, String>,
}

async fn call(client: &Client, upstream: &RawUpstream, path: &str, body: &str) -> Outcome {
    let request = http::Request::post(format!("{}{path}", upstream.base_url()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-incomplete")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    let (cache, body) = cache_and_body(response).await;
    Outcome { cache, body }
}

fn sse_head() -> String {
    head(
        200,
        &[
            ("content-type", "text/event-stream"),
            ("transfer-encoding", "chunked"),
        ],
    )
}

/// Sends the same request twice through one cache; returns both outcomes.
async fn twice(
    script: Vec<Step>,
    path: &str,
    body: &str,
) -> (CacheLayer, RawUpstream, [Outcome; 2]) {
    let upstream = RawUpstream::start(script).await.unwrap();
    let layer = layer();
    let client = client(&layer);
    let first = call(&client, &upstream, path, body).await;
    let second = call(&client, &upstream, path, body).await;
    (layer, upstream, [first, second])
}

#[tokio::test]
async fn a_whole_stream_is_stored_so_the_checks_below_can_fail() {
    let script = vec![
        Step::write(sse_head()),
        Step::Write(chunk(CHAT_EVENTS)),
        Step::Write(chunk(DONE)),
        Step::write(LAST_CHUNK),
    ];
    let (layer, upstream, [first, second]) = twice(script, "/v1/chat/completions", CHAT).await;
    assert_eq!(
        (first.cache.as_str(), second.cache.as_str()),
        ("MISS", "HIT")
    );
    assert_eq!(first.body.unwrap(), second.body.unwrap());
    assert_eq!(upstream.requests(), 1);
    assert_eq!(layer.stats().stores, 1);
}

#[tokio::test]
async fn an_openai_stream_without_done_is_passed_on_and_never_stored() {
    let script = vec![
        Step::write(sse_head()),
        Step::Write(chunk(CHAT_EVENTS)),
        Step::write(LAST_CHUNK),
    ];
    let (layer, upstream, [first, second]) = twice(script, "/v1/chat/completions", CHAT).await;
    assert_eq!(
        (first.cache.as_str(), second.cache.as_str()),
        ("MISS", "MISS")
    );
    assert_eq!(first.body.unwrap(), CHAT_EVENTS, "exactly as received");
    assert_eq!(second.body.unwrap(), CHAT_EVENTS);
    assert_eq!(upstream.requests(), 2);
    let stats = layer.stats();
    assert_eq!(stats.stores, 0);
    assert_eq!(stats.not_stored.get("no_end_marker"), Some(&2));
    assert_eq!(stats.not_stored_incomplete, 2);
}

#[tokio::test]
async fn a_stream_ended_by_a_connection_close_without_done_is_not_stored() {
    let script = vec![
        Step::write(head(
            200,
            &[
                ("content-type", "text/event-stream"),
                ("connection", "close"),
            ],
        )),
        Step::write(CHAT_EVENTS),
        Step::Close,
    ];
    let (layer, upstream, [first, second]) = twice(script, "/v1/chat/completions", CHAT).await;
    assert_eq!(second.cache, "MISS");
    assert_eq!(first.body.unwrap(), CHAT_EVENTS);
    assert_eq!(upstream.requests(), 2);
    assert_eq!(layer.stats().not_stored.get("no_end_marker"), Some(&2));
}

#[tokio::test]
async fn an_anthropic_stream_without_message_stop_is_not_stored() {
    let events = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
    let script = vec![
        Step::write(sse_head()),
        Step::Write(chunk(events)),
        Step::write(LAST_CHUNK),
    ];
    let (layer, upstream, [first, second]) = twice(script, "/v1/messages", MESSAGES).await;
    assert_eq!(second.cache, "MISS");
    assert_eq!(first.body.unwrap(), events);
    assert_eq!(upstream.requests(), 2);
    assert_eq!(layer.stats().not_stored.get("no_end_marker"), Some(&2));
}

#[tokio::test]
async fn a_responses_stream_without_response_completed_is_not_stored() {
    let events = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n";
    let script = vec![
        Step::write(sse_head()),
        Step::Write(chunk(events)),
        Step::write(LAST_CHUNK),
    ];
    let (layer, upstream, [first, second]) = twice(script, "/v1/responses", RESPONSES).await;
    assert_eq!(second.cache, "MISS");
    assert_eq!(first.body.unwrap(), events);
    assert_eq!(upstream.requests(), 2);
    assert_eq!(layer.stats().not_stored.get("no_end_marker"), Some(&2));
}

#[tokio::test]
async fn json_cut_by_a_connection_close_is_not_stored() {
    let cut = r#"{"id":"chatcmpl-1","choices":[{"message":{"content":"Hel"#;
    let script = vec![
        Step::write(head(
            200,
            &[
                ("content-type", "application/json"),
                ("connection", "close"),
            ],
        )),
        Step::write(cut),
        Step::Close,
    ];
    let (layer, upstream, [first, second]) =
        twice(script, "/v1/chat/completions", CHAT_PLAIN).await;
    assert_eq!(second.cache, "MISS");
    assert_eq!(first.body.unwrap(), cut, "exactly as received");
    assert_eq!(upstream.requests(), 2);
    assert_eq!(layer.stats().not_stored.get("invalid_json"), Some(&2));
}

#[tokio::test]
async fn json_shorter_than_its_content_length_fails_and_is_not_stored() {
    let whole = r#"{"id":"chatcmpl-1","choices":[]}"#;
    let script = vec![
        Step::write(head(
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", &(whole.len() + 20).to_string()),
            ],
        )),
        Step::write(whole),
        Step::Close,
    ];
    let (layer, upstream, [first, second]) =
        twice(script, "/v1/chat/completions", CHAT_PLAIN).await;
    assert!(first.body.is_err(), "the caller learns the body was cut");
    assert_eq!(second.cache, "MISS");
    assert_eq!(upstream.requests(), 2);
    assert_eq!(layer.stats().stores, 0);
    assert_eq!(layer.stats().not_stored.get("body_error"), Some(&2));
}

#[tokio::test]
async fn followers_of_an_incomplete_answer_get_it_as_sent_and_nothing_is_stored() {
    let script = vec![
        Step::write(sse_head()),
        Step::Pause(Duration::from_millis(300)),
        Step::Write(chunk(CHAT_EVENTS)),
        Step::write(LAST_CHUNK),
    ];
    let upstream = RawUpstream::start(script).await.unwrap();
    let layer = layer();
    let client = client(&layer);
    let calls = (0..4).map(|_| call(&client, &upstream, "/v1/chat/completions", CHAT));
    let outcomes = futures_util::future::join_all(calls).await;
    for outcome in &outcomes {
        assert_eq!(outcome.body.as_deref().unwrap(), CHAT_EVENTS.as_bytes());
    }
    assert_eq!(
        upstream.requests(),
        1,
        "the followers shared the leader's call"
    );
    assert_eq!(layer.stats().stores, 0);
    let again = call(&client, &upstream, "/v1/chat/completions", CHAT).await;
    assert_eq!(again.cache, "MISS");
    assert_eq!(upstream.requests(), 2);
}

#[tokio::test]
async fn upstream_no_store_and_private_are_obeyed_and_max_age_caps_the_ttl() {
    for directive in ["no-store", "private"] {
        let whole = r#"{"id":"chatcmpl-1","choices":[]}"#;
        let script = vec![
            Step::write(head(
                200,
                &[
                    ("content-type", "application/json"),
                    ("cache-control", directive),
                    ("content-length", &whole.len().to_string()),
                ],
            )),
            Step::write(whole),
        ];
        let (layer, upstream, [_, second]) =
            twice(script, "/v1/chat/completions", CHAT_PLAIN).await;
        assert_eq!(second.cache, "MISS", "{directive}");
        assert_eq!(upstream.requests(), 2);
        assert_eq!(layer.stats().not_stored.get("forbidden"), Some(&2));
    }
    // max-age=1: stored, then stale after a second although the TTL is an hour.
    let whole = r#"{"id":"chatcmpl-1","choices":[]}"#;
    let script = vec![
        Step::write(head(
            200,
            &[
                ("content-type", "application/json"),
                ("cache-control", "max-age=1"),
                ("content-length", &whole.len().to_string()),
            ],
        )),
        Step::write(whole),
    ];
    let (layer, upstream, [_, second]) = twice(script, "/v1/chat/completions", CHAT_PLAIN).await;
    assert_eq!(second.cache, "HIT");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let client = client(&layer);
    let third = call(&client, &upstream, "/v1/chat/completions", CHAT_PLAIN).await;
    assert_eq!(third.cache, "MISS", "the upstream's max-age capped the TTL");
    assert_eq!(upstream.requests(), 2);
}

#[tokio::test]
async fn a_requested_ttl_is_capped_by_the_operator_maximum() {
    let whole = r#"{"id":"chatcmpl-1","choices":[]}"#;
    let script = vec![
        Step::write(head(
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", &whole.len().to_string()),
            ],
        )),
        Step::write(whole),
    ];
    let upstream = RawUpstream::start(script).await.unwrap();
    let layer = CacheLayer::new(CacheConfig::default().default_ttl(Duration::from_secs(1)));
    let client = client(&layer);
    let ask_forever = |client: &Client| {
        let request = http::Request::post(format!("{}/v1/chat/completions", upstream.base_url()))
            .header("authorization", "Bearer sk-ttl")
            .header("x-llm-cache-ttl", u64::MAX.to_string())
            .body(Full::new(Bytes::from_static(CHAT_PLAIN.as_bytes())))
            .unwrap();
        client.clone().oneshot(request)
    };
    let first = ask_forever(&client).await.unwrap();
    assert_eq!(first.headers()["x-llm-cache"], "MISS");
    first.into_body().collect().await.unwrap();
    let second = ask_forever(&client).await.unwrap();
    assert_eq!(second.headers()["x-llm-cache"], "HIT");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = ask_forever(&client).await.unwrap();
    assert_eq!(
        third.headers()["x-llm-cache"],
        "MISS",
        "u64::MAX seconds was cut to the configured TTL"
    );
    assert_eq!(upstream.requests(), 2);
}

#[cfg(feature = "disk")]
#[tokio::test]
async fn the_disk_store_never_gets_an_incomplete_answer_either() {
    use llm_layers_cache::{DiskStore, MemoryBounds};
    let dir = tempfile::tempdir().unwrap();
    let script = vec![
        Step::write(sse_head()),
        Step::Write(chunk(CHAT_EVENTS)),
        Step::write(LAST_CHUNK),
    ];
    let upstream = RawUpstream::start(script).await.unwrap();
    let layer = CacheLayer::with_store(
        CacheConfig::default(),
        DiskStore::open(dir.path().join("cache.redb"), MemoryBounds::default()).unwrap(),
    );
    let client = client(&layer);
    for _ in 0..2 {
        let outcome = call(&client, &upstream, "/v1/chat/completions", CHAT).await;
        assert_eq!(outcome.cache, "MISS");
        assert_eq!(outcome.body.unwrap(), CHAT_EVENTS);
    }
    layer.flush().await;
    let stats = layer.stats();
    assert_eq!((stats.stores, stats.store.entries), (0, 0));
    assert_eq!(stats.not_stored.get("no_end_marker"), Some(&2));
}
