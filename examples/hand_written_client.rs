//! A hand-written LLM client that sends its requests through the stack:
//! build a chat completion request, send it, read the cache outcome and
//! the token usage. Runs against the mock provider on loopback.
//!
//! `cargo run --example hand_written_client`

use http_body_util::BodyExt;
use llm_layers::core::usage::token_usage_from_json;
use llm_layers::core::{ApiKind, Usage};
use llm_layers::stack::{full_body, LlmStack, StackService};
use llm_layers_mock::{MockConfig, MockServer};
use serde_json::json;
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The application's own client: a base URL, a key, and the stack.
struct ChatClient {
    base_url: String,
    api_key: String,
    http: StackService,
}

/// What the application gets back.
struct ChatReply {
    text: String,
    cache: String,
    usage: Option<Usage>,
}

impl ChatClient {
    async fn chat(&self, model: &str, system: &str, user: &str) -> Result<ChatReply, BoxError> {
        let body = json!({
            "model": model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
        });
        let request = http::Request::post(format!("{}/v1/chat/completions", self.base_url))
            .header("authorization", format!("Bearer {}", self.api_key))
            .header("content-type", "application/json")
            .body(full_body(body.to_string()))?;
        let response = self.http.clone().oneshot(request).await?;
        let cache = response
            .headers()
            .get("x-llm-cache")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        let bytes = response.into_body().collect().await?.to_bytes();
        let answer: serde_json::Value = serde_json::from_slice(&bytes)?;
        Ok(ChatReply {
            text: answer["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            cache,
            usage: token_usage_from_json(ApiKind::OpenAiChat, &bytes),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mock = MockServer::start(MockConfig::default()).await?;
    let stack = LlmStack::new();
    let client = ChatClient {
        base_url: mock.base_url().to_owned(),
        api_key: "sk-example".into(),
        http: stack.clone().over_connector()?,
    };
    for attempt in 1..=2 {
        let reply = client
            .chat(
                "gpt-4o-mini",
                "Today is 2026-11-23.\nAnswer in one line.",
                "Say hello.",
            )
            .await?;
        let usage = reply.usage.unwrap_or_default();
        println!(
            "call {attempt}: cache {:<4} input {:>3} output {:>3}  {:?}",
            reply.cache, usage.input_tokens, usage.output_tokens, reply.text
        );
    }
    let snapshot = stack.metrics().expect("metrics are on").stats().snapshot();
    println!(
        "metrics: {} calls, cache hit rate {:.0}%",
        snapshot.total_calls,
        snapshot.cache_hit_rate * 100.0
    );
    Ok(())
}
