//! Upstream timeouts against upstreams on loopback that stall: before the
//! head, between stream chunks, inside a plain body, or that stream too
//! long. Each ends the call with an error in the provider's shape.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_core::{ApiKind, SseParser, StreamCompletion, UsageTracker};
use llm_layers_mock::raw::{chunk, head, RawUpstream, Step};
use llm_layers_mock::testing::eventually;
use llm_layers_resilience::{
    TimedOut, TimeoutPhase, UpstreamTimeout, UpstreamTimeoutLayer, UpstreamTimeouts,
};
use tower::{Layer, ServiceExt};

type Client = UpstreamTimeout<HyperConnector<Full<Bytes>>>;

fn client(timeouts: UpstreamTimeouts) -> Client {
    UpstreamTimeoutLayer::new(timeouts).layer(HyperConnector::builder().build().unwrap())
}

fn short() -> UpstreamTimeouts {
    UpstreamTimeouts::default()
        .first_byte(Duration::from_millis(300))
        .stream_idle(Duration::from_millis(300))
}

fn request(upstream: &RawUpstream, path: &str, body: &str) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("{}{path}", upstream.base_url()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// A plain JSON head announcing `length` bytes.
fn json_head(length: usize) -> String {
    head(
        200,
        &[
            ("content-type", "application/json"),
            ("content-length", &length.to_string()),
        ],
    )
}

/// Sends `body` to `path` of `upstream` through `timeouts`; the response.
async fn answer(
    timeouts: UpstreamTimeouts,
    upstream: &RawUpstream,
    path: &str,
    body: &str,
) -> http::Response<impl http_body::Body<Data = Bytes, Error = tower::BoxError> + Unpin> {
    client(timeouts)
        .oneshot(request(upstream, path, body))
        .await
        .unwrap()
}

const PLAIN: &str = r#"{"model":"m"}"#;
const STREAM: &str = r#"{"model":"m","stream":true}"#;

fn sse_head() -> String {
    head(
        200,
        &[
            ("content-type", "text/event-stream"),
            ("transfer-encoding", "chunked"),
        ],
    )
}

/// Every data frame, in order, and how the body ended.
async fn frames(
    body: impl http_body::Body<Data = Bytes, Error = tower::BoxError> + Unpin,
) -> (Vec<u8>, Result<(), tower::BoxError>) {
    let mut body = body;
    let mut seen = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    seen.extend_from_slice(data);
                }
            }
            Err(error) => return (seen, Err(error)),
        }
    }
    (seen, Ok(()))
}

fn completion(kind: ApiKind, stream: &[u8]) -> StreamCompletion {
    let mut parser = SseParser::new();
    let mut usage = UsageTracker::new(kind);
    parser.feed(stream, |event| usage.observe(event));
    usage.completion()
}

#[tokio::test]
async fn no_head_in_time_is_a_504_in_each_providers_shape() {
    let upstream = RawUpstream::start(vec![Step::Stall]).await.unwrap();
    let client = client(short());
    for (path, shape) in [
        ("/v1/chat/completions", "openai"),
        ("/v1/messages", "anthropic"),
        ("/v1beta/models/gemini-2.0-flash:generateContent", "gemini"),
    ] {
        let response = client
            .clone()
            .oneshot(request(&upstream, path, r#"{"model":"m"}"#))
            .await
            .unwrap();
        assert_eq!(response.status(), 504, "{path}");
        assert_eq!(
            response.extensions().get::<TimedOut>().map(|t| t.phase),
            Some(TimeoutPhase::FirstByte)
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        match shape {
            "anthropic" => {
                assert_eq!(error["type"], "error");
                assert_eq!(error["error"]["type"], "timeout_error");
            }
            "gemini" => assert_eq!(error["error"]["status"], "DEADLINE_EXCEEDED"),
            _ => assert_eq!(error["error"]["type"], "timeout_error"),
        }
    }
}

#[tokio::test]
async fn a_stalled_stream_ends_with_the_providers_error_event_and_lets_the_connection_go() {
    let first = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
    let upstream = RawUpstream::start(vec![
        Step::write(sse_head()),
        Step::Write(chunk(first)),
        Step::Stall,
    ])
    .await
    .unwrap();
    let response = answer(short(), &upstream, "/v1/chat/completions", STREAM).await;
    assert_eq!(response.status(), 200);
    let (stream, ended) = frames(response.into_body()).await;
    ended.unwrap();
    assert!(
        stream.starts_with(first.as_bytes()),
        "what came, came first"
    );
    let rest = String::from_utf8_lossy(&stream[first.len()..]).into_owned();
    assert!(rest.starts_with("data: {\"error\""), "{rest}");
    assert!(rest.contains("stream_idle"), "{rest}");
    assert_eq!(
        completion(ApiKind::OpenAiChat, &stream),
        StreamCompletion::Failed
    );
    assert!(
        eventually(|| upstream.connections_closed() == 1).await,
        "the stalled connection was dropped"
    );
}

#[tokio::test]
async fn a_stream_stalled_inside_an_event_gets_its_error_event_apart() {
    let upstream = RawUpstream::start(vec![
        Step::write(sse_head()),
        Step::Write(chunk("event: content_block_delta\ndata: {\"ty")),
        Step::Stall,
    ])
    .await
    .unwrap();
    let response = answer(
        short(),
        &upstream,
        "/v1/messages",
        r#"{"model":"claude","stream":true}"#,
    )
    .await;
    let (stream, _) = frames(response.into_body()).await;
    let text = String::from_utf8_lossy(&stream).into_owned();
    assert!(
        text.contains("\n\nevent: error\ndata: {\"type\":\"error\""),
        "{text}"
    );
    assert_eq!(
        completion(ApiKind::AnthropicMessages, &stream),
        StreamCompletion::Failed
    );
}

#[tokio::test]
async fn a_plain_body_stalled_half_way_fails() {
    let upstream = RawUpstream::start(vec![
        Step::write(json_head(100)),
        Step::write(r#"{"id":"chatcmpl"#),
        Step::Stall,
    ])
    .await
    .unwrap();
    let response = answer(short(), &upstream, "/v1/chat/completions", PLAIN).await;
    let (_, ended) = frames(response.into_body()).await;
    let error = ended.unwrap_err();
    let timed_out = error.downcast_ref::<TimedOut>().expect("a TimedOut error");
    assert_eq!(timed_out.phase, TimeoutPhase::StreamIdle);
}

#[tokio::test]
async fn a_stream_that_never_ends_is_cut_at_the_total() {
    let event = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
    let mut script = vec![Step::write(sse_head())];
    for _ in 0..400 {
        script.push(Step::Write(chunk(event)));
        script.push(Step::Pause(Duration::from_millis(25)));
    }
    let upstream = RawUpstream::start(script).await.unwrap();
    let timeouts = short().total(Duration::from_millis(500));
    let response = answer(timeouts, &upstream, "/v1/chat/completions", STREAM).await;
    let (stream, ended) = frames(response.into_body()).await;
    ended.unwrap();
    let text = String::from_utf8_lossy(&stream).into_owned();
    assert!(text.ends_with("\n\n") && text.contains("total"), "{text}");
    assert!(text.matches("content").count() < 400, "cut before the end");
    assert_eq!(
        completion(ApiKind::OpenAiChat, &stream),
        StreamCompletion::Failed
    );
}

#[tokio::test]
async fn with_no_timeouts_nothing_is_cut() {
    let whole = r#"{"id":"x"}"#;
    let upstream = RawUpstream::start(vec![
        Step::write(json_head(10)),
        Step::Pause(Duration::from_millis(400)),
        Step::write(whole),
    ])
    .await
    .unwrap();
    let response = answer(
        UpstreamTimeouts::none(),
        &upstream,
        "/v1/chat/completions",
        PLAIN,
    )
    .await;
    let (body, ended) = frames(response.into_body()).await;
    ended.unwrap();
    assert_eq!(body, whole.as_bytes());
}
