//! async-openai through the stack: [`service`] makes a tower service that
//! async-openai's `Client::with_http_service` (0.43, feature `middleware`)
//! takes, so every call it makes (chat, streams, embeddings, responses)
//! goes through the cache, metrics, prefix repair and resilience layers.
//!
//! Errors keep async-openai's own types: an upstream's error answer (a
//! 4xx, a 5xx, a layer's own 429 or 503 in the provider's shape) reaches
//! async-openai as a response and becomes `OpenAIError::ApiError`; a
//! failure with no answer (no connection) becomes `OpenAIError::Boxed`,
//! holding the stack's error. async-openai's own retry is replaced by the
//! stack's (which knows `insufficient_quota` is permanent, too).
//!
//! ```no_run
//! use async_openai::config::OpenAIConfig;
//! use async_openai::Client;
//! use llm_layers::LlmStack;
//!
//! # fn build() -> Result<(), Box<dyn std::error::Error>> {
//! let stack = LlmStack::new().over_connector()?;
//! let client = Client::with_config(OpenAIConfig::default())
//!     .with_http_service(llm_layers::async_openai::service(stack));
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::async_openai::error::OpenAIError;
use ::async_openai::middleware::HttpRequestFactory;
use tower::Service;

use crate::reqwest_bridge::{send, to_http, to_reqwest};
use crate::stack::StackService;

/// The stack as async-openai's HTTP service.
pub fn service(stack: StackService) -> OpenAiService {
    OpenAiService { stack }
}

/// A built stack serving async-openai's requests; see [`service`].
#[derive(Clone)]
pub struct OpenAiService {
    stack: StackService,
}

impl std::fmt::Debug for OpenAiService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiService").finish_non_exhaustive()
    }
}

impl Service<HttpRequestFactory> for OpenAiService {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        // The stack is made ready per call, on a clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let stack = self.stack.clone();
        Box::pin(async move {
            let request = to_http(factory.build().await?).map_err(OpenAIError::Boxed)?;
            let response = send(stack, request).await.map_err(OpenAIError::Boxed)?;
            Ok(to_reqwest(response))
        })
    }
}
