//! Rate-limit awareness over the real connector, against the mock on
//! loopback: once an answer says a key's quota for a model is spent, the
//! next calls for that key and model wait for the reset or are refused
//! at once; other keys and models go on.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_core::body::ReplayBody;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_resilience::{RateLimit, RateLimitLayer, RateLimitPolicy, WhenSpent};
use tower::{Layer, ServiceExt};

type Client = RateLimit<HyperConnector<ReplayBody<Full<Bytes>>>>;

fn client(policy: RateLimitPolicy) -> Client {
    RateLimitLayer::new(policy).layer(HyperConnector::builder().build().unwrap())
}

fn fail_fast() -> RateLimitPolicy {
    RateLimitPolicy::default().when_spent(WhenSpent::FailFast)
}

/// A chat call with `key`; `spend` makes the mock report the quota spent
/// for `reset_ms`.
fn call(
    mock: &MockServer,
    path: &str,
    key: &str,
    model: &str,
    spend: Option<u64>,
) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::post(format!("{}{path}", mock.base_url()))
        .header("authorization", format!("Bearer {key}"));
    if let Some(reset_ms) = spend {
        request = request
            .header("x-mock-remaining-requests", "0")
            .header("x-mock-ratelimit-reset-ms", reset_ms.to_string());
    }
    let body = format!(
        r#"{{"model":"{model}","max_tokens":8,"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    request.body(Full::new(Bytes::from(body))).unwrap()
}

async fn status(
    client: &Client,
    request: http::Request<Full<Bytes>>,
) -> (u16, http::HeaderMap, Bytes) {
    let response = client.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

#[tokio::test]
async fn a_spent_key_and_model_is_refused_and_the_others_go_on() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let client = client(fail_fast());
    let chat = "/v1/chat/completions";
    let (spent, ..) = status(&client, call(&mock, chat, "sk-a", "gpt-4o", Some(60_000))).await;
    assert_eq!(spent, 200, "the call that spent the quota got its answer");
    let (refused, headers, body) = status(&client, call(&mock, chat, "sk-a", "gpt-4o", None)).await;
    assert_eq!(refused, 429);
    assert_eq!(headers["x-llm-rate-limit"], "spent");
    assert_eq!(headers["retry-after"], "60");
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert_eq!(
        status(&client, call(&mock, chat, "sk-b", "gpt-4o", None))
            .await
            .0,
        200,
        "another key"
    );
    assert_eq!(
        status(&client, call(&mock, chat, "sk-a", "gpt-4o-mini", None))
            .await
            .0,
        200,
        "another model"
    );
    assert_eq!(
        mock.stats().requests_to(chat),
        3,
        "the refused call never left"
    );
}

#[tokio::test]
async fn a_call_waits_for_the_reset_then_goes() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let client = client(RateLimitPolicy::default());
    let chat = "/v1/chat/completions";
    status(&client, call(&mock, chat, "sk-w", "gpt-4o", Some(500))).await;
    let started = Instant::now();
    let (waited, ..) = status(&client, call(&mock, chat, "sk-w", "gpt-4o", None)).await;
    assert_eq!(waited, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "held until the reset"
    );
    assert_eq!(mock.stats().requests_to(chat), 2);
}

#[tokio::test]
async fn a_reset_beyond_the_longest_wait_or_a_full_queue_is_refused_at_once() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let chat = "/v1/chat/completions";
    let short_wait = client(RateLimitPolicy::default().max_wait(Duration::from_secs(1)));
    status(
        &short_wait,
        call(&mock, chat, "sk-l", "gpt-4o", Some(5_000)),
    )
    .await;
    let (refused, headers, _) =
        status(&short_wait, call(&mock, chat, "sk-l", "gpt-4o", None)).await;
    assert_eq!(refused, 429);
    assert_eq!(headers["retry-after"], "5");

    let one_in_queue = client(RateLimitPolicy::default().max_waiting(1));
    // A reset far enough off that the first waiter is still waiting when
    // the second arrives, however slow the machine.
    status(
        &one_in_queue,
        call(&mock, chat, "sk-q", "gpt-4o", Some(3_000)),
    )
    .await;
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let client = one_in_queue.clone();
            let request = call(&mock, chat, "sk-q", "gpt-4o", None);
            tokio::spawn(async move { status(&client, request).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 429],
        "one waited, the other found the queue full"
    );
}

#[tokio::test]
async fn anthropic_resets_are_read_as_times() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let client = client(fail_fast());
    let messages = "/v1/messages";
    status(
        &client,
        call(&mock, messages, "sk-ant", "claude-sonnet-4", Some(30_000)),
    )
    .await;
    let (refused, headers, body) = status(
        &client,
        call(&mock, messages, "sk-ant", "claude-sonnet-4", None),
    )
    .await;
    assert_eq!(refused, 429);
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry_after), "{retry_after}");
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["type"], "error", "Anthropic's shape");
}
