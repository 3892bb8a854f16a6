//! async-openai through the stack: the same chat twice, the second from
//! the cache, against the mock provider on loopback (no key, no network).
//!
//! `cargo run --example async_openai --features async-openai`

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use async_openai::Client;
use llm_layers::LlmStack;
use llm_layers_mock::{MockConfig, MockServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start(MockConfig::default()).await?;
    let stack = LlmStack::new();
    let client = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{}/v1", mock.base_url()))
            .with_api_key("sk-example"),
    )
    .with_http_service(llm_layers::async_openai::service(
        stack.clone().over_connector()?,
    ));
    let request = CreateChatCompletionRequestArgs::default()
        .model("gpt-4o-mini")
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("Name one prime number.")
            .build()?
            .into()])
        .build()?;
    for _ in 0..2 {
        let answer = client.chat().create(request.clone()).await?;
        println!("{:?}", answer.choices[0].message.content);
    }
    let cache = stack.cache().map(|cache| cache.stats());
    println!(
        "upstream calls: {}, cache hits: {}",
        mock.stats().requests_total,
        cache.map_or(0, |stats| stats.hits)
    );
    Ok(())
}
