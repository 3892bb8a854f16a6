//! The whole stack over an upstream that stalls mid-stream: the caller
//! and every request that joined its call get the provider's error event,
//! nothing is stored, and nothing waits forever.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use llm_layers::core::{ApiKind, SseParser, StreamCompletion, UsageTracker};
use llm_layers::resilience::UpstreamTimeouts;
use llm_layers::stack::{full_body, LlmStack, StackService};
use llm_layers_mock::raw::{chunk, head, RawUpstream, Step};
use tower::ServiceExt;

const FIRST: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
const CHAT: &str =
    r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"stall"}]}"#;

fn stalling_stream() -> Vec<Step> {
    vec![
        Step::write(head(
            200,
            &[
                ("content-type", "text/event-stream"),
                ("transfer-encoding", "chunked"),
            ],
        )),
        Step::Write(chunk(FIRST)),
        Step::Pause(Duration::from_millis(200)),
        Step::Stall,
    ]
}

/// One call; boxed, so that spawning it does not trip rustc's `Send`
/// inference on the boxed service (rust-lang/rust#64552).
fn call(
    client: StackService,
    base_url: String,
) -> Pin<Box<dyn Future<Output = (String, Bytes)> + Send>> {
    let request = http::Request::post(format!("{base_url}/v1/chat/completions"))
        .header("authorization", "Bearer sk-stall")
        .body(full_body(CHAT))
        .unwrap();
    type Answer = Result<http::Response<llm_layers::StackBody>, tower::BoxError>;
    let answer: Pin<Box<dyn Future<Output = Answer> + Send>> = Box::pin(client.oneshot(request));
    Box::pin(async move {
        let response = answer.await.unwrap();
        let cache = response.headers()["x-llm-cache"]
            .to_str()
            .unwrap()
            .to_owned();
        (
            cache,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    })
}

fn failed(stream: &[u8]) -> bool {
    let mut parser = SseParser::new();
    let mut usage = UsageTracker::new(ApiKind::OpenAiChat);
    parser.feed(stream, |event| usage.observe(event));
    usage.completion() == StreamCompletion::Failed
}

#[tokio::test]
async fn a_stalled_stream_fails_its_caller_and_followers_alike_and_is_not_stored() {
    let upstream = RawUpstream::start(stalling_stream()).await.unwrap();
    let stack = LlmStack::new()
        .with_timeouts(UpstreamTimeouts::default().stream_idle(Duration::from_millis(500)));
    let client = stack.clone().over_connector().unwrap();
    let calls: Vec<_> = (0..5)
        .map(|_| tokio::spawn(call(client.clone(), upstream.base_url())))
        .collect();
    let mut streams = Vec::new();
    for call in calls {
        streams.push(call.await.unwrap().1);
    }
    for stream in &streams {
        assert!(stream.starts_with(FIRST.as_bytes()));
        assert!(failed(stream), "{}", String::from_utf8_lossy(stream));
        assert_eq!(stream, &streams[0], "the same bytes for all");
    }
    assert_eq!(upstream.requests(), 1, "one call for the five");
    let cache = stack.cache().unwrap().stats();
    assert_eq!(cache.stores, 0);
    assert_eq!(cache.not_stored.get("stream_error"), Some(&1));
    let (again, _) = call(client, upstream.base_url()).await;
    assert_eq!(again, "MISS", "nothing was stored");
    assert_eq!(upstream.requests(), 2);
}

#[tokio::test]
async fn no_head_in_time_answers_504_to_all_who_joined_and_stores_nothing() {
    let upstream = RawUpstream::start(vec![Step::Stall]).await.unwrap();
    // Long enough for the five to join on a loaded machine.
    // Without retries, which would try the timed-out call again.
    let stack = LlmStack::new()
        .with_retry(None)
        .with_timeouts(UpstreamTimeouts::default().first_byte(Duration::from_secs(2)));
    let client = stack.clone().over_connector().unwrap();
    let calls: Vec<_> = (0..5)
        .map(|_| tokio::spawn(call(client.clone(), upstream.base_url())))
        .collect();
    for call in calls {
        let (_, body) = call.await.unwrap();
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["type"], "timeout_error");
    }
    assert_eq!(
        upstream.requests(),
        1,
        "the requests that joined failed with it"
    );
    let cache = stack.cache().unwrap().stats();
    assert_eq!(cache.stores, 0);
    assert_eq!(cache.not_stored.get("status"), Some(&1));
}
