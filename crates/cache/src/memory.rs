//! The in-memory store: moka's concurrent cache, bounded by bytes and by
//! entry count, with each entry's own TTL and LRU-like eviction (TinyLFU
//! admission, LRU eviction).
//!
//! moka bounds one weight; both bounds hold by weighing each entry at least
//! `max_bytes / max_entries`: no more than `max_entries` entries can fit,
//! and the real bytes never exceed the weights' sum.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llm_layers_core::CanonicalKey;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use crate::entry::CachedResponse;
use crate::store::{CacheStore, StoreError, StoreFuture, StoreStats};

/// Bounds of a [`MemoryStore`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct MemoryBounds {
    /// Largest total size. Default 256 MiB.
    pub max_bytes: u64,
    /// Most entries. Default 100,000.
    pub max_entries: u64,
}

impl Default for MemoryBounds {
    fn default() -> Self {
        MemoryBounds {
            max_bytes: 256 << 20,
            max_entries: 100_000,
        }
    }
}

llm_layers_core::config_setters!(MemoryBounds {
    max_bytes: u64,
    max_entries: u64,
});

#[derive(Debug, Default)]
struct Evictions {
    size: AtomicU64,
    ttl: AtomicU64,
    explicit: AtomicU64,
    bytes: AtomicU64,
}

/// Each entry expires at its own TTL.
struct EntryTtl;

impl Expiry<CanonicalKey, Arc<CachedResponse>> for EntryTtl {
    fn expire_after_create(
        &self,
        _key: &CanonicalKey,
        entry: &Arc<CachedResponse>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl.saturating_sub(entry.age()))
    }
}

/// The default store.
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<CanonicalKey, Arc<CachedResponse>, foldhash::quality::RandomState>,
    evictions: Arc<Evictions>,
    max_bytes: u64,
    floor: u64,
}

impl MemoryStore {
    /// A store with these bounds.
    pub fn new(bounds: MemoryBounds) -> MemoryStore {
        let floor = (bounds.max_bytes / bounds.max_entries.max(1)).max(1);
        let evictions = Arc::new(Evictions::default());
        let listener = evictions.clone();
        let cache = Cache::builder()
            .max_capacity(bounds.max_bytes)
            .weigher(move |_key, entry: &Arc<CachedResponse>| weight(entry, floor))
            .expire_after(EntryTtl)
            .eviction_listener(move |_key, entry: Arc<CachedResponse>, cause| {
                listener
                    .bytes
                    .fetch_sub(entry.size() as u64, Ordering::Relaxed);
                let counter = match cause {
                    RemovalCause::Size => &listener.size,
                    RemovalCause::Expired => &listener.ttl,
                    RemovalCause::Explicit | RemovalCause::Replaced => &listener.explicit,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            })
            .build_with_hasher(foldhash::quality::RandomState::default());
        MemoryStore {
            cache,
            evictions,
            max_bytes: bounds.max_bytes,
            floor,
        }
    }

    fn fresh(&self, key: &CanonicalKey) -> Option<Arc<CachedResponse>> {
        self.cache.get(key).filter(|entry| entry.is_fresh())
    }

    /// Inserts, and tells whether moka admitted the entry. An entry larger
    /// than the whole store is refused up front. Otherwise moka admits
    /// every entry while it has room; only when this one does not fit does
    /// its admission policy (TinyLFU) choose between it and what it holds,
    /// so only then are its pending tasks settled to learn the choice.
    fn insert(&self, key: CanonicalKey, entry: Arc<CachedResponse>) -> Result<(), StoreError> {
        let weight = u64::from(weight(&entry, self.floor));
        if weight > self.max_bytes {
            return Err(StoreError::refused("larger than the store"));
        }
        self.evictions
            .bytes
            .fetch_add(entry.size() as u64, Ordering::Relaxed);
        let crowded = self.cache.weighted_size() + weight > self.max_bytes;
        self.cache.insert(key, entry);
        if crowded {
            self.cache.run_pending_tasks();
            if !self.cache.contains_key(&key) {
                return Err(StoreError::refused(
                    "the admission policy kept other entries",
                ));
            }
        }
        Ok(())
    }

    /// Applies pending evictions now (moka does it lazily); for tests and
    /// statistics.
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }
}

/// An entry's weight: its size, at least `floor` (so the entry bound holds).
fn weight(entry: &CachedResponse, floor: u64) -> u32 {
    (entry.size() as u64).max(floor).min(u32::MAX as u64) as u32
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(MemoryBounds::default())
    }
}

impl CacheStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, Option<Arc<CachedResponse>>> {
        Box::pin(std::future::ready(Ok(self.fresh(key))))
    }

    fn put(&self, key: CanonicalKey, entry: Arc<CachedResponse>) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(self.insert(key, entry)))
    }

    fn get_now(
        &self,
        key: &CanonicalKey,
    ) -> Option<Result<Option<Arc<CachedResponse>>, StoreError>> {
        Some(Ok(self.fresh(key)))
    }

    fn put_now(
        &self,
        key: CanonicalKey,
        entry: &Arc<CachedResponse>,
    ) -> Option<Result<(), StoreError>> {
        Some(self.insert(key, entry.clone()))
    }

    fn remove<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, bool> {
        let removed = self.cache.remove(key).is_some();
        Box::pin(std::future::ready(Ok(removed)))
    }

    fn clear(&self) -> StoreFuture<'_, u64> {
        self.cache.run_pending_tasks();
        let count = self.cache.entry_count();
        self.cache.invalidate_all();
        self.cache.run_pending_tasks();
        Box::pin(std::future::ready(Ok(count)))
    }

    fn stats(&self) -> StoreStats {
        // moka applies evictions and counts lazily; settle them first.
        self.cache.run_pending_tasks();
        StoreStats {
            entries: self.cache.entry_count(),
            bytes: self.evictions.bytes.load(Ordering::Relaxed),
            evicted_size: self.evictions.size.load(Ordering::Relaxed),
            evicted_ttl: self.evictions.ttl.load(Ordering::Relaxed),
            evicted_explicit: self.evictions.explicit.load(Ordering::Relaxed),
            remote: None,
        }
    }
}
