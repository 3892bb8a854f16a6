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
    /// Single flight across processes, for stores several processes share
    /// (Redis): called by the one caller in this process about to call the
    /// upstream for `key` after a miss. `None` (the default) means the
    /// store has no other process to agree with: the caller goes ahead.
    fn claim<'a>(&'a self, _key: &'a CanonicalKey) -> Option<StoreFuture<'a, Claim>> {
        None
    }
}

/// What [`CacheStore::claim`] decided.
pub enum Claim {
    /// This process makes the upstream call. Other processes wait for its
    /// entry while the lease is held; drop it once the answer is stored
    /// (or known not to be).
    Lead(Lease),
    /// Another process stored the answer meanwhile.
    Found(Arc<CachedResponse>),
    /// No agreement could be had (the store is unreachable, or the wait
    /// for another process's answer ran out): call the upstream alone.
    Alone,
}

/// The right to make one upstream call on behalf of every process sharing
/// a store; released when dropped.
pub struct Lease {
    _held: Box<dyn Send + Sync>,
}

impl Lease {
    /// A lease whose `held` value gives it up when dropped.
    pub fn new(held: impl Send + Sync + 'static) -> Lease {
        Lease {
            _held: Box::new(held),
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lease")
    }
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Claim::Lead(_) => f.write_str("Lead"),
            Claim::Found(_) => f.write_str("Found"),
            Claim::Alone => f.write_str("Alone"),
        }
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
    /// A store in another process (Redis): what its operations did. Its
    /// entries are not counted above; the server keeps them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteStats>,
}

/// What a shared store's operations did, as this process saw them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RemoteStats {
    /// Reads that found a fresh entry.
    pub hits: u64,
    /// Reads that found nothing usable.
    pub misses: u64,
    /// Values that did not decode (or belonged to another key): dropped,
    /// counted as misses too.
    pub corrupt: u64,
    /// Operations that failed or took longer than their timeout.
    pub errors: u64,
    /// Operations not tried because the store was known to be down.
    pub skipped: u64,
    /// Whether the store answered its last operation.
    pub up: bool,
    /// Operations that got an answer, and their summed latency.
    pub operations: u64,
    /// Summed latency of those operations, in microseconds.
    pub latency_micros_total: u64,
    /// Upstream calls this process led for other processes.
    pub flights_led: u64,
    /// Answers another process's call provided while this one waited.
    pub flights_followed: u64,
    /// Waits for another process that ran out (the caller then went alone).
    pub flights_timed_out: u64,
}
