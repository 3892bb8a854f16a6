//! How the embeddings batch layer behaves, with the defaults documented.

use std::sync::Arc;
use std::time::Duration;

use llm_layers_core::tokens::{BytesPerToken, TokenEstimator};

/// Settings of an [`crate::EmbeddingsBatchLayer`].
#[derive(Clone)]
#[non_exhaustive]
pub struct BatchConfig {
    /// How long the first request of a batch waits for others. Default 2 ms.
    pub window: Duration,
    /// Inputs in one upstream request at most (OpenAI accepts 2,048).
    /// Default 2,048.
    pub max_inputs: usize,
    /// Bytes of input in one upstream request at most. Default 4 MiB.
    pub max_input_bytes: usize,
    /// Largest batched answer read (a larger one is a failed batch: its
    /// members are sent alone). Default 256 MiB.
    pub max_response_bytes: usize,
    /// Largest request body buffered to read it, when no earlier layer
    /// did. Default 32 MiB.
    pub max_request_bytes: usize,
    /// Estimates each input's tokens, to share the upstream's `usage`
    /// among the members (token arrays count exactly). Default
    /// [`BytesPerToken`], the prefix layer's default too.
    pub estimator: Arc<dyn TokenEstimator>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            window: Duration::from_millis(2),
            max_inputs: 2048,
            max_input_bytes: 4 << 20,
            max_response_bytes: 256 << 20,
            max_request_bytes: 32 << 20,
            estimator: Arc::new(BytesPerToken),
        }
    }
}

impl std::fmt::Debug for BatchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchConfig")
            .field("window", &self.window)
            .field("max_inputs", &self.max_inputs)
            .field("max_input_bytes", &self.max_input_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish_non_exhaustive()
    }
}

llm_layers_core::config_setters!(BatchConfig {
    window: Duration,
    max_inputs: usize,
    max_input_bytes: usize,
    max_response_bytes: usize,
    max_request_bytes: usize,
    estimator: Arc<dyn TokenEstimator>,
});
