//! async-openai through the stack, against the mock provider over TCP:
//! a streamed chat, its repeat served from the cache, usage counted, and
//! errors arriving as async-openai's own types.

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use async_openai::Client;
use futures_util::StreamExt;
use llm_layers::metrics::MetricsStats;
use llm_layers::LlmStack;
use llm_layers_mock::{Fault, MockConfig, MockServer};

fn client(mock: &MockServer, stack: &LlmStack) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new()
        .with_api_base(format!("{}/v1", mock.base_url()))
        .with_api_key("sk-async-openai");
    let service = llm_layers::async_openai::service(stack.clone().over_connector().unwrap());
    Client::with_config(config).with_http_service(service)
}

fn chat(text: &str, include_usage: bool) -> CreateChatCompletionRequest {
    let mut request = CreateChatCompletionRequestArgs::default();
    request
        .model("gpt-4o-mini")
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(text)
            .build()
            .unwrap()
            .into()]);
    if include_usage {
        request.stream_options(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        });
    }
    request.build().unwrap()
}

async fn streamed_text(
    client: &Client<OpenAIConfig>,
    request: CreateChatCompletionRequest,
) -> String {
    let mut stream = client.chat().create_stream(request).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        for choice in chunk.unwrap().choices {
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    text
}

fn tokens(stats: &MetricsStats) -> u64 {
    stats
        .snapshot()
        .by_model
        .values()
        .map(|model| model.tokens)
        .sum()
}

#[tokio::test]
async fn a_streamed_chat_is_cached_and_its_usage_counted() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let stack = LlmStack::new();
    let client = client(&mock, &stack);
    let first = streamed_text(&client, chat("stream me", true)).await;
    assert!(!first.is_empty());
    let second = streamed_text(&client, chat("stream me", true)).await;
    assert_eq!(second, first, "the replayed stream parses to the same text");
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
    let cache = stack.cache().unwrap().stats();
    assert_eq!((cache.misses, cache.hits), (1, 1));
    let metrics = stack.metrics().unwrap().stats();
    assert!(tokens(&metrics) > 0, "the stream's usage chunk was counted");
}

#[tokio::test]
async fn plain_chats_and_embeddings_go_through_the_stack() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let stack = LlmStack::new();
    let client = client(&mock, &stack);
    let answer = client.chat().create(chat("plain", false)).await.unwrap();
    let again = client.chat().create(chat("plain", false)).await.unwrap();
    assert_eq!(
        answer.choices[0].message.content,
        again.choices[0].message.content
    );
    assert!(answer.usage.unwrap().total_tokens > 0);
    let embedding = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input("vectors please")
        .build()
        .unwrap();
    let vectors = client.embeddings().create(embedding).await.unwrap();
    assert!(!vectors.data[0].embedding.is_empty());
    assert_eq!(mock.stats().requests_total, 2, "the repeat was a hit");
    assert_eq!(stack.cache().unwrap().stats().hits, 1);
}

#[tokio::test]
async fn responses_plain_and_streamed_go_through_the_stack() {
    use async_openai::types::responses::{CreateResponseArgs, InputParam};
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let stack = LlmStack::new();
    let client = client(&mock, &stack);
    let request = CreateResponseArgs::default()
        .model("gpt-4o-mini")
        .input(InputParam::Text("respond".into()))
        .build()
        .unwrap();
    let answer = client.responses().create(request.clone()).await.unwrap();
    let again = client.responses().create(request.clone()).await.unwrap();
    assert!(answer.output_text().is_some_and(|text| !text.is_empty()));
    assert_eq!(answer.output_text(), again.output_text());
    let mut stream = client.responses().create_stream(request).await.unwrap();
    let mut events = 0;
    while let Some(event) = stream.next().await {
        event.unwrap();
        events += 1;
    }
    assert!(events > 2, "a streamed response's events");
    assert_eq!(
        mock.stats().requests_to("/v1/responses"),
        2,
        "plain once, streamed once"
    );
    assert!(tokens(&stack.metrics().unwrap().stats()) > 0);
}

#[tokio::test]
async fn errors_arrive_as_async_openai_errors() {
    let mock = MockServer::start(MockConfig::default().fault(Some(Fault::InsufficientQuota)))
        .await
        .unwrap();
    let stack = LlmStack::new();
    let quota = client(&mock, &stack)
        .chat()
        .create(chat("no quota", false))
        .await
        .unwrap_err();
    let OpenAIError::ApiError(api) = quota else {
        panic!("an API error, got {quota:?}")
    };
    assert_eq!(api.status_code, 429);
    assert_eq!(api.api_error.code.as_deref(), Some("insufficient_quota"));
    assert_eq!(
        mock.stats().requests_total,
        1,
        "insufficient_quota is permanent: not retried"
    );

    // Nothing listening: no answer at all.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = OpenAIConfig::new()
        .with_api_base(format!("http://127.0.0.1:{port}/v1"))
        .with_api_key("sk-x");
    let stack = LlmStack::new().with_retry(None);
    let client = Client::with_config(config).with_http_service(llm_layers::async_openai::service(
        stack.over_connector().unwrap(),
    ));
    let refused = client
        .chat()
        .create(chat("nobody", false))
        .await
        .unwrap_err();
    assert!(matches!(refused, OpenAIError::Boxed(_)), "{refused:?}");
}
