//! The layer, its store and its statistics.

use std::sync::Arc;

use llm_layers_core::CanonicalKey;
use tower::Layer;

use crate::config::CacheConfig;
use crate::flight::Flights;
use crate::memory::MemoryStore;
use crate::service::{Cache, Shared};
use crate::stats::{CacheCounters, CacheStats};
use crate::store::{CacheStore, StoreError};

/// Answers repeated LLM requests from a response cache. See the crate
/// documentation.
#[derive(Clone)]
pub struct CacheLayer {
    shared: Arc<Shared>,
}

impl CacheLayer {
    /// A layer over the default [`MemoryStore`].
    pub fn new(config: CacheConfig) -> CacheLayer {
        CacheLayer::with_store(config, MemoryStore::default())
    }

    /// A layer over any store.
    pub fn with_store(config: CacheConfig, store: impl CacheStore) -> CacheLayer {
        CacheLayer {
            shared: Arc::new(Shared {
                config,
                store: Arc::new(store),
                counters: Arc::new(CacheCounters::default()),
                flights: Arc::new(Flights::default()),
                writes: Arc::default(),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Hits, misses, stores and what the store holds.
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot(self.shared.store.stats())
    }

    /// Waits until every answer being stored in the background (the disk
    /// store writes off the request path) is in the store: call it before
    /// shutting down, so no finished answer is lost.
    pub async fn flush(&self) {
        self.shared.writes.idle().await;
    }

    /// Removes every entry; how many there were.
    pub async fn clear(&self) -> Result<u64, StoreError> {
        self.shared.store.clear().await
    }

    /// Removes one entry; whether it was there.
    pub async fn remove(&self, key: &CanonicalKey) -> Result<bool, StoreError> {
        self.shared.store.remove(key).await
    }
}

impl Default for CacheLayer {
    fn default() -> Self {
        CacheLayer::new(CacheConfig::default())
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Cache<S> {
        Cache {
            inner,
            shared: self.shared.clone(),
        }
    }
}
