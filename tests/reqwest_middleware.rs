//! A reqwest-middleware client with the stack, against the mock provider
//! over TCP: hits, streams passed through as they come, and failures.

use futures_util::StreamExt;
use llm_layers::reqwest_middleware::LlmMiddleware;
use llm_layers::LlmStack;
use llm_layers_mock::{MockConfig, MockServer};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

fn client(stack: &LlmStack) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::new(stack.clone().over_connector().unwrap()))
        .build()
}

fn chat(text: &str, stream: bool) -> String {
    serde_json::json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": text}]})
        .to_string()
}

async fn post(client: &ClientWithMiddleware, url: &str, body: String) -> reqwest::Response {
    client
        .post(url)
        .bearer_auth("sk-reqwest")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn repeats_are_hits_and_streams_arrive_chunk_by_chunk() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let stack = LlmStack::new();
    let client = client(&stack);
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let first = post(&client, &url, chat("hello", false)).await;
    assert_eq!(first.headers()["x-llm-cache"], "MISS");
    let first = first.text().await.unwrap();
    let second = post(&client, &url, chat("hello", false)).await;
    assert_eq!(second.headers()["x-llm-cache"], "HIT");
    assert_eq!(second.text().await.unwrap(), first);

    let streamed = post(&client, &url, chat("stream", true)).await;
    assert!(streamed.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut chunks = 0;
    let mut body = Vec::new();
    let mut bytes = streamed.bytes_stream();
    while let Some(chunk) = bytes.next().await {
        body.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "the stream was not gathered into one piece");
    assert!(String::from_utf8(body)
        .unwrap()
        .ends_with("data: [DONE]\n\n"));
    assert_eq!(mock.stats().requests_total, 2);
    assert!(stack.metrics().unwrap().stats().snapshot().total_calls >= 3);
}

#[tokio::test]
async fn a_call_with_no_answer_is_a_middleware_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client(&LlmStack::new().with_retry(None));
    let error = client
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .body(chat("nobody", false))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(error, reqwest_middleware::Error::Middleware(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("llm-layers"), "{error}");
}
