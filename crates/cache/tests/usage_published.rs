//! A plain answer the cache records is read once: the check that it is
//! whole also reads its usage, published for the layers outside (metrics,
//! the prefix report), which then keep and read nothing. Upstreams on
//! loopback: the mock, and scripted ones that cut a body.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_cache::{Cache, CacheLayer};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::usage::{token_usage_from_json, ResponseUsage};
use llm_layers_core::{ApiKind, PublishedUsage, Usage};
use llm_layers_mock::raw::{head, RawUpstream, Step};
use llm_layers_mock::{MockConfig, MockServer};
use tower::{Layer, ServiceExt};

type Client = Cache<HyperConnector<ReplayBody<Full<Bytes>>>>;

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"count my tokens"}]}"#;

fn client(layer: &CacheLayer) -> Client {
    layer.layer(HyperConnector::builder().build().unwrap())
}

/// What a layer outside the cache sees: whether the cache published the
/// usage, the cache header, the body (or its error), and the usage the
/// outer reader ends with (reading the body itself only when nothing is
/// published).
struct Outside {
    published: bool,
    cache: String,
    body: Result<Bytes, String>,
    usage: Option<Usage>,
}

async fn call_from_outside(client: &Client, base_url: &str) -> Outside {
    let request = http::Request::post(format!("{base_url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-usage")
        .body(Full::new(Bytes::from_static(CHAT.as_bytes())))
        .unwrap();
    let mut response = client.clone().oneshot(request).await.unwrap();
    let published = response.extensions().get::<PublishedUsage>().is_some();
    let cache = response.headers()["x-llm-cache"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut outer = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut response, 1 << 20);
    let mut body = response.into_body();
    let mut read = Vec::new();
    let ended = loop {
        match body.frame().await {
            None => break Ok(()),
            Some(Err(error)) => break Err(error.to_string()),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    outer.on_data(data);
                    read.extend_from_slice(data);
                }
            }
        }
    };
    drop(body);
    Outside {
        published,
        cache,
        body: ended.map(|()| Bytes::from(read)),
        usage: outer.finish(),
    }
}

#[tokio::test]
async fn a_recorded_answer_publishes_the_usage_its_body_carries() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let miss = call_from_outside(&client, &mock.base_url()).await;
    assert_eq!(miss.cache, "MISS");
    assert!(miss.published, "the cache reads the answer it records");
    let body = miss.body.expect("whole");
    let expected = token_usage_from_json(ApiKind::OpenAiChat, &body).expect("the mock counts");
    assert!(expected.input_tokens > 0 && expected.output_tokens > 0);
    assert_eq!(miss.usage.as_ref(), Some(&expected));
    // The hit publishes the same reading, kept with the entry.
    let hit = call_from_outside(&client, &mock.base_url()).await;
    assert_eq!(hit.cache, "HIT");
    assert!(hit.published);
    assert_eq!(hit.body.expect("whole"), body);
    assert_eq!(hit.usage, Some(expected));
    assert_eq!(layer.stats().stores, 1);
}

#[tokio::test]
async fn a_cut_answer_publishes_what_an_outer_reader_would_have_read() {
    // The usage comes first, then the body is cut short of its length: not
    // stored, and the layers outside still count the tokens it reported,
    // as they would reading it themselves.
    let sent = r#"{"usage":{"prompt_tokens":5,"completion_tokens":2},"choices":[{"message":{"content":"cut he"#;
    let script = vec![
        Step::write(head(
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", &(sent.len() + 40).to_string()),
            ],
        )),
        Step::write(sent),
        Step::Close,
    ];
    let upstream = RawUpstream::start(script).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let cut = call_from_outside(&client, &upstream.base_url()).await;
    assert!(cut.published);
    assert!(cut.body.is_err(), "the caller learns the body was cut");
    let usage = cut.usage.expect("read from what arrived");
    assert_eq!((usage.input_tokens, usage.output_tokens), (5, 2));
    assert_eq!(layer.stats().stores, 0);
    assert_eq!(layer.stats().not_stored.get("body_error"), Some(&1));
}

#[tokio::test]
async fn an_answer_without_a_length_is_left_to_the_layers_outside() {
    // Chunked: the cache cannot know it will keep the whole body, so the
    // layers outside read it themselves, and still find the usage.
    let answer = r#"{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#;
    let script = vec![
        Step::write(head(
            200,
            &[
                ("content-type", "application/json"),
                ("transfer-encoding", "chunked"),
            ],
        )),
        Step::Write(llm_layers_mock::raw::chunk(answer)),
        Step::write(llm_layers_mock::raw::LAST_CHUNK),
    ];
    let upstream = RawUpstream::start(script).await.unwrap();
    let layer = CacheLayer::default();
    let client = client(&layer);
    let outside = call_from_outside(&client, &upstream.base_url()).await;
    assert!(!outside.published);
    assert_eq!(outside.body.expect("whole"), answer.as_bytes());
    let usage = outside.usage.expect("read outside");
    assert_eq!((usage.input_tokens, usage.output_tokens), (9, 4));
    assert_eq!(layer.stats().stores, 1);
}
