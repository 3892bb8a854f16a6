//! The layer and its statistics.

use std::sync::Arc;

use tower::Layer;

use crate::batcher::Batcher;
use crate::config::BatchConfig;
use crate::service::EmbeddingsBatch;
use crate::stats::BatchStats;

/// Coalesces concurrent embeddings requests into one upstream request.
/// See the crate documentation.
#[derive(Clone)]
pub struct EmbeddingsBatchLayer {
    batcher: Arc<Batcher>,
}

impl EmbeddingsBatchLayer {
    /// A layer with `config`.
    pub fn new(config: BatchConfig) -> EmbeddingsBatchLayer {
        EmbeddingsBatchLayer {
            batcher: Arc::new(Batcher::new(config)),
        }
    }

    /// Batches sent, inputs in them, requests saved, batches failed.
    pub fn stats(&self) -> BatchStats {
        self.batcher.counters.snapshot()
    }
}

impl Default for EmbeddingsBatchLayer {
    fn default() -> Self {
        EmbeddingsBatchLayer::new(BatchConfig::default())
    }
}

impl<S> Layer<S> for EmbeddingsBatchLayer {
    type Service = EmbeddingsBatch<S>;

    fn layer(&self, inner: S) -> EmbeddingsBatch<S> {
        EmbeddingsBatch {
            inner,
            batcher: self.batcher.clone(),
        }
    }
}
