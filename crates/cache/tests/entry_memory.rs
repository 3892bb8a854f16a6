//! A stored entry owns its bytes: an answer read from a connection arrives
//! as slices of that connection's read buffer, and an entry that kept such
//! a slice would keep the whole buffer alive, outside the store's bound.
//! Header values parsed from a connection are such slices too.

use std::convert::Infallible;

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full, StreamBody};
use llm_layers_cache::{CacheConfig, CacheLayer};
use llm_layers_core::body::ReplayBody;
use tower::{service_fn, Layer, ServiceExt};

const ANSWER: &str = r#"{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
const STREAM: [&str; 2] = [
    "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
    "data: [DONE]\n\n",
];

/// `text` as a slice of a 1 MiB buffer, as a connection's reader hands it out.
fn slice_of_a_large_buffer(text: &str) -> Bytes {
    let mut buffer = vec![b' '; 1 << 20];
    buffer[4096..4096 + text.len()].copy_from_slice(text.as_bytes());
    Bytes::from(buffer).slice(4096..4096 + text.len())
}

fn request(stream: bool) -> http::Request<Full<Bytes>> {
    let body = format!(
        r#"{{"model":"gpt-4o","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    http::Request::post("http://upstream.test/v1/chat/completions")
        .header("authorization", "Bearer sk-a")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// The cached answer to `request(stream)`, from an upstream that must not
/// be called: a HIT, or the test fails.
async fn hit(
    layer: &CacheLayer,
    stream: bool,
) -> http::Response<llm_layers_cache::ResponseBody<Full<Bytes>>> {
    let unreachable = layer.layer(service_fn(
        |_: http::Request<ReplayBody<Full<Bytes>>>| async {
            Err::<http::Response<Full<Bytes>>, _>("the upstream must not be called")
        },
    ));
    let response = unreachable.oneshot(request(stream)).await.unwrap();
    assert_eq!(response.headers()["x-llm-cache"], "HIT");
    response
}

#[tokio::test]
async fn a_stored_answer_keeps_no_reference_to_the_buffer_it_was_read_from() {
    let chunk = slice_of_a_large_buffer(ANSWER);
    let header = slice_of_a_large_buffer("answer-7");
    let probes = [chunk.clone(), header.clone()];
    let upstream = service_fn(move |_: http::Request<ReplayBody<Full<Bytes>>>| {
        let (chunk, header) = (chunk.clone(), header.clone());
        async move {
            Ok::<_, Infallible>(
                http::Response::builder()
                    .header("content-type", "application/json")
                    .header(
                        "x-answer-id",
                        HeaderValue::from_maybe_shared(header).unwrap(),
                    )
                    .body(Full::new(chunk))
                    .unwrap(),
            )
        }
    });
    let layer = CacheLayer::new(CacheConfig::default());
    let client = layer.layer(upstream);
    let response = client.clone().oneshot(request(false)).await.unwrap();
    assert_eq!(response.headers()["x-llm-cache"], "MISS");
    let first = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(first, ANSWER.as_bytes());
    drop(first);
    drop(client);
    layer.flush().await;
    assert_eq!(layer.stats().stores, 1, "the answer was stored");
    assert!(
        probes.iter().all(Bytes::is_unique),
        "the entry still refers to the upstream's buffers"
    );
    // And the entry replays the same bytes.
    let response = hit(&layer, false).await;
    assert_eq!(response.headers()["x-answer-id"], "answer-7");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, ANSWER.as_bytes());
}

#[tokio::test]
async fn a_stored_stream_keeps_its_chunks_and_no_reference_to_their_buffers() {
    let chunks: Vec<Bytes> = STREAM.iter().map(|c| slice_of_a_large_buffer(c)).collect();
    let probes = chunks.clone();
    let upstream = service_fn(move |_: http::Request<ReplayBody<Full<Bytes>>>| {
        let frames = chunks
            .clone()
            .into_iter()
            .map(|c| Ok::<_, Infallible>(http_body::Frame::data(c)));
        async move {
            Ok::<_, Infallible>(
                http::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(StreamBody::new(futures_util::stream::iter(frames)))
                    .unwrap(),
            )
        }
    });
    let layer = CacheLayer::new(CacheConfig::default());
    let client = layer.layer(upstream);
    let response = client.clone().oneshot(request(true)).await.unwrap();
    response.into_body().collect().await.unwrap();
    drop(client);
    layer.flush().await;
    assert_eq!(layer.stats().stores, 1, "the stream was stored");
    assert!(
        probes.iter().all(Bytes::is_unique),
        "the entry still refers to the upstream's buffers"
    );
    let mut body = hit(&layer, true).await.into_body();
    let mut replayed = Vec::new();
    while let Some(frame) = body.frame().await {
        replayed.push(frame.unwrap().into_data().unwrap());
    }
    assert_eq!(replayed, STREAM.map(|c| Bytes::from_static(c.as_bytes())));
}
