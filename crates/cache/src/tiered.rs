//! Two tiers: a memory store in front of a shared one (Redis).
//!
//! Reads try memory first, then the shared store, and keep what they find
//! there in memory (read-through). Writes go to both. An entry held in
//! memory expires when the shared copy does (the same stored time and TTL),
//! or sooner: at most [`TieredStore::front_ttl`] after it was copied, so a
//! removal in another process reaches this one within that bound.

use std::sync::Arc;
use std::time::Duration;

use llm_layers_core::CanonicalKey;

use crate::entry::CachedResponse;
use crate::memory::MemoryStore;
use crate::store::{CacheStore, Claim, StoreError, StoreFuture, StoreStats};

/// A [`MemoryStore`] in front of another store.
///
/// ```
/// use llm_layers_cache::{CacheConfig, CacheLayer, DiskStore, MemoryBounds, MemoryStore, TieredStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// let shared = DiskStore::open(dir.path().join("cache.redb"), MemoryBounds::default()).unwrap();
/// let store = TieredStore::new(MemoryStore::default(), shared)
///     .front_ttl(std::time::Duration::from_secs(30));
/// let layer = CacheLayer::with_store(CacheConfig::default(), store);
/// ```
pub struct TieredStore<B> {
    front: MemoryStore,
    back: B,
    front_ttl: Duration,
}

impl<B: CacheStore> TieredStore<B> {
    /// `front` before `back`; entries stay in memory up to 60 s.
    pub fn new(front: MemoryStore, back: B) -> TieredStore<B> {
        TieredStore {
            front,
            back,
            front_ttl: Duration::from_secs(60),
        }
    }

    /// The longest an entry stays in memory after it was copied there.
    #[must_use]
    pub fn front_ttl(mut self, ttl: Duration) -> Self {
        self.front_ttl = ttl;
        self
    }

    /// Keeps an entry found behind in memory, for at most `front_ttl` more.
    fn keep_in_front(&self, key: CanonicalKey, entry: &Arc<CachedResponse>) {
        let capped = entry.ttl.min(entry.age() + self.front_ttl);
        let copy = if capped < entry.ttl {
            Arc::new(CachedResponse {
                ttl: capped,
                ..CachedResponse::clone(entry)
            })
        } else {
            entry.clone()
        };
        // A refusal only means the copy stays behind.
        let _ = self.front.put_now(key, &copy);
    }
}

impl<B: CacheStore> CacheStore for TieredStore<B> {
    fn get<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, Option<Arc<CachedResponse>>> {
        Box::pin(async move {
            if let Some(Ok(Some(entry))) = self.front.get_now(key) {
                return Ok(Some(entry));
            }
            let found = self.back.get(key).await?;
            if let Some(entry) = &found {
                self.keep_in_front(*key, entry);
            }
            Ok(found)
        })
    }

    fn get_now(
        &self,
        key: &CanonicalKey,
    ) -> Option<Result<Option<Arc<CachedResponse>>, StoreError>> {
        // A memory hit answers at once; anything else asks the back.
        match self.front.get_now(key) {
            Some(Ok(Some(entry))) => Some(Ok(Some(entry))),
            _ => None,
        }
    }

    fn put(&self, key: CanonicalKey, entry: Arc<CachedResponse>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.keep_in_front(key, &entry);
            self.back.put(key, entry).await
        })
    }

    fn remove<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let in_front = self.front.remove(key).await.unwrap_or(false);
            Ok(self.back.remove(key).await? || in_front)
        })
    }

    fn clear(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let in_front = self.front.clear().await.unwrap_or(0);
            Ok(self.back.clear().await?.max(in_front))
        })
    }

    fn stats(&self) -> StoreStats {
        let back = self.back.stats();
        let front = self.front.stats();
        match back.remote {
            // Memory's counts, and what the remote store's operations did.
            Some(remote) => StoreStats {
                remote: Some(remote),
                ..front
            },
            None => back,
        }
    }

    fn claim<'a>(&'a self, key: &'a CanonicalKey) -> Option<StoreFuture<'a, Claim>> {
        let claim = self.back.claim(key)?;
        Some(Box::pin(async move {
            let claim = claim.await?;
            if let Claim::Found(entry) = &claim {
                self.keep_in_front(*key, entry);
            }
            Ok(claim)
        }))
    }
}
