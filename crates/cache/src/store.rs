//! The storage behind the cache: one async trait, several stores.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use llm_layers_core::CanonicalKey;
use serde::Serialize;

use crate::entry::CachedResponse;

/// A boxed future, as the object-safe trait returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store failed. The layer never fails a request for it: it calls the
/// upstream instead and counts the error.
#[derive(Debug, thiserror::Error)]
#[error("cache store: {0}")]
pub struct StoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// The store did not admit an entry (larger than the store, or its
/// admission policy preferred what it holds): nothing went wrong, and
/// nothing was stored.
#[derive(Debug, thiserror::Error)]
#[error("entry not admitted: {0}")]
pub struct Refused(pub &'static str);

impl StoreError {
    /// A [`Refused`] entry.
    pub fn refused(why: &'static str) -> StoreError {
        StoreError(Box::new(Refused(why)))
    }

    /// Whether the store refused the entry rather than failed.
    pub fn is_refused(&self) -> bool {
        self.0.is::<Refused>()
    }
}

/// Where entries live. Implementations bound their size and expire entries
/// at their TTL on their own.
pub trait CacheStore: Send + Sync + 'static {
    /// The fresh entry under `key`, if any.
    fn get<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, Option<Arc<CachedResponse>>>;
    /// Stores `entry` under `key`, replacing any other; an entry the store
    /// does not admit is answered with [`StoreError::refused`].
    fn put(&self, key: CanonicalKey, entry: Arc<CachedResponse>) -> StoreFuture<'_, ()>;
    /// Removes the entry under `key`; whether there was one.
    fn remove<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, bool>;
    /// Removes everything; how many entries were removed.
    fn clear(&self) -> StoreFuture<'_, u64>;
    /// Counts kept by the store.
    fn stats(&self) -> StoreStats;
    /// [`Self::get`] for stores that answer without waiting (memory): the
    /// answer at once, with no boxed future. `None` (the default) means the
    /// caller awaits [`Self::get`].
    fn get_now(
        &self,
        _key: &CanonicalKey,
    ) -> Option<Result<Option<Arc<CachedResponse>>, StoreError>> {
        None
    }
    /// [`Self::put`] done at once by stores that need not wait; `None` (the
    /// default) means nothing was stored and the caller awaits [`Self::put`].
    fn put_now(
        &self,
        _key: CanonicalKey,
        _entry: &Arc<CachedResponse>,
    ) -> Option<Result<(), StoreError>> {
        None
    }
}

/// What a store holds and has evicted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Entries held.
    pub entries: u64,
    /// Bytes held (entry sizes as [`CachedResponse::size`] counts them).
    pub bytes: u64,
    /// Entries evicted to respect the bounds.
    pub evicted_size: u64,
    /// Entries that expired.
    pub evicted_ttl: u64,
    /// Entries removed on request (`remove`, `clear`) or replaced.
    pub evicted_explicit: u64,
}
