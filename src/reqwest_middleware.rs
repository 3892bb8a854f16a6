//! The stack in a reqwest-middleware client: [`LlmMiddleware`] implements
//! its `Middleware`, so any `ClientWithMiddleware` (rig, genai, your own
//! reqwest code) gets the cache, metrics, prefix repair and resilience.
//!
//! The stack sends the request itself, over its own pooled connector (or
//! whatever it was built over): middleware after this one in the chain,
//! and the reqwest client's own connection settings, are not used. Put
//! `LlmMiddleware` last. A failure with no answer is
//! `reqwest_middleware::Error::Middleware`, holding the stack's error; an
//! error answer is a response, as reqwest gives it.
//!
//! ```no_run
//! use llm_layers::reqwest_middleware::LlmMiddleware;
//! use llm_layers::LlmStack;
//!
//! # fn build() -> Result<(), Box<dyn std::error::Error>> {
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(LlmMiddleware::new(LlmStack::new().over_connector()?))
//!     .build();
//! # Ok(()) }
//! ```

use ::reqwest_middleware::{Middleware, Next, Result};
use http::Extensions;
use tower::BoxError;

use crate::reqwest_bridge::{send, to_http, to_reqwest};
use crate::stack::StackService;

/// The stack as a reqwest-middleware `Middleware`.
#[derive(Clone)]
pub struct LlmMiddleware {
    stack: StackService,
}

impl LlmMiddleware {
    /// A middleware sending every request through `stack`.
    pub fn new(stack: StackService) -> LlmMiddleware {
        LlmMiddleware { stack }
    }
}

impl std::fmt::Debug for LlmMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmMiddleware").finish_non_exhaustive()
    }
}

/// What the stack failed with, as reqwest-middleware carries it.
#[derive(Debug, thiserror::Error)]
#[error("llm-layers: {0}")]
pub struct StackError(#[source] pub BoxError);

#[async_trait::async_trait]
impl Middleware for LlmMiddleware {
    async fn handle(
        &self,
        request: reqwest::Request,
        _extensions: &mut Extensions,
        _next: Next<'_>,
    ) -> Result<reqwest::Response> {
        let failed = |error| ::reqwest_middleware::Error::middleware(StackError(error));
        let request = to_http(request).map_err(failed)?;
        let response = send(self.stack.clone(), request).await.map_err(failed)?;
        Ok(to_reqwest(response))
    }
}
