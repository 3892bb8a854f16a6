//! The on-disk store: one redb file, so entries survive restarts, and a
//! process killed mid-write leaves the last committed state readable
//! (redb commits are atomic and durable).
//!
//! Same TTLs and bounds as the memory store: an expired entry is never
//! served (and is removed when met); past the entry or byte bound the oldest
//! stored entries go first (insertion order, not recency: recording every
//! read would cost a disk write per hit). Blocking disk work runs on Tokio's
//! blocking pool.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use llm_layers_core::CanonicalKey;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::codec::{decode, encode};
use crate::entry::CachedResponse;
use crate::memory::MemoryBounds;
use crate::store::{CacheStore, StoreError, StoreFuture, StoreStats};

/// Key → encoded entry.
const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
/// Insertion sequence → key, oldest first.
const ORDER: TableDefinition<u64, &[u8]> = TableDefinition::new("order");
/// `bytes` (stored entry sizes) and `next_seq`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

#[derive(Debug, Default)]
struct Evictions {
    size: AtomicU64,
    ttl: AtomicU64,
    explicit: AtomicU64,
}

/// A persistent store in one file.
#[derive(Clone)]
pub struct DiskStore {
    db: Arc<Database>,
    bounds: MemoryBounds,
    evictions: Arc<Evictions>,
}

fn store_error(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError(Box::new(error))
}

impl DiskStore {
    /// Opens (or creates) the store at `path`, recovering it if the last
    /// process died mid-write.
    pub fn open(path: impl AsRef<Path>, bounds: MemoryBounds) -> Result<DiskStore, StoreError> {
        let db = Database::create(path).map_err(store_error)?;
        let write = db.begin_write().map_err(store_error)?;
        {
            write.open_table(ENTRIES).map_err(store_error)?;
            write.open_table(ORDER).map_err(store_error)?;
            write.open_table(META).map_err(store_error)?;
        }
        write.commit().map_err(store_error)?;
        Ok(DiskStore {
            db: Arc::new(db),
            bounds,
            evictions: Arc::new(Evictions::default()),
        })
    }

    /// Runs blocking disk work off the async threads.
    fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DiskStore) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let store = self.clone();
        Box::pin(async move {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => runtime
                    .spawn_blocking(move || work(&store))
                    .await
                    .map_err(store_error)?,
                Err(_) => work(&store),
            }
        })
    }

    fn read(&self, key: &CanonicalKey) -> Result<Option<Arc<CachedResponse>>, StoreError> {
        let read = self.db.begin_read().map_err(store_error)?;
        let entries = read.open_table(ENTRIES).map_err(store_error)?;
        let Some(value) = entries
            .get(key.as_bytes().as_slice())
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        match decode(value.value()) {
            Ok((entry, _)) if entry.is_fresh() => Ok(Some(Arc::new(entry))),
            Ok(_) => {
                drop(value);
                self.delete(key, &self.evictions.ttl)?;
                Ok(None)
            }
            // Bytes this version cannot read are a miss, and are dropped.
            Err(_) => {
                drop(value);
                self.delete(key, &self.evictions.explicit)?;
                Ok(None)
            }
        }
    }

    fn write(&self, key: CanonicalKey, entry: &CachedResponse) -> Result<(), StoreError> {
        if entry.size() as u64 > self.bounds.max_bytes {
            return Err(StoreError::refused("larger than the store"));
        }
        let write = self.db.begin_write().map_err(store_error)?;
        {
            let mut entries = write.open_table(ENTRIES).map_err(store_error)?;
            let mut order = write.open_table(ORDER).map_err(store_error)?;
            let mut meta = write.open_table(META).map_err(store_error)?;
            let mut bytes = meta
                .get("bytes")
                .map_err(store_error)?
                .map_or(0, |v| v.value());
            let seq = meta
                .get("next_seq")
                .map_err(store_error)?
                .map_or(0, |v| v.value());
            let encoded = encode(entry, seq);
            if let Some(previous) = entries
                .insert(key.as_bytes().as_slice(), encoded.as_slice())
                .map_err(store_error)?
            {
                if let Ok((old, old_seq)) = decode(previous.value()) {
                    bytes = bytes.saturating_sub(old.size() as u64);
                    drop(previous);
                    order.remove(old_seq).map_err(store_error)?;
                    self.evictions.explicit.fetch_add(1, Ordering::Relaxed);
                }
            }
            order
                .insert(seq, key.as_bytes().as_slice())
                .map_err(store_error)?;
            bytes += entry.size() as u64;
            // Past a bound, the oldest entries go.
            while entries.len().map_err(store_error)? > self.bounds.max_entries
                || bytes > self.bounds.max_bytes
            {
                let Some((_, oldest_key)) = order.pop_first().map_err(store_error)? else {
                    break;
                };
                let oldest_key = oldest_key.value().to_vec();
                if let Some(removed) = entries.remove(oldest_key.as_slice()).map_err(store_error)? {
                    if let Ok((old, _)) = decode(removed.value()) {
                        bytes = bytes.saturating_sub(old.size() as u64);
                    }
                    self.evictions.size.fetch_add(1, Ordering::Relaxed);
                }
            }
            meta.insert("bytes", bytes).map_err(store_error)?;
            meta.insert("next_seq", seq + 1).map_err(store_error)?;
        }
        write.commit().map_err(store_error)
    }

    fn delete(&self, key: &CanonicalKey, cause: &AtomicU64) -> Result<bool, StoreError> {
        let write = self.db.begin_write().map_err(store_error)?;
        let removed = {
            let mut entries = write.open_table(ENTRIES).map_err(store_error)?;
            let mut order = write.open_table(ORDER).map_err(store_error)?;
            let mut meta = write.open_table(META).map_err(store_error)?;
            let removed = entries
                .remove(key.as_bytes().as_slice())
                .map_err(store_error)?;
            match removed {
                Some(value) => {
                    if let Ok((old, seq)) = decode(value.value()) {
                        let bytes = meta
                            .get("bytes")
                            .map_err(store_error)?
                            .map_or(0, |v| v.value());
                        meta.insert("bytes", bytes.saturating_sub(old.size() as u64))
                            .map_err(store_error)?;
                        order.remove(seq).map_err(store_error)?;
                    }
                    true
                }
                None => false,
            }
        };
        write.commit().map_err(store_error)?;
        if removed {
            cause.fetch_add(1, Ordering::Relaxed);
        }
        Ok(removed)
    }

    fn delete_all(&self) -> Result<u64, StoreError> {
        let write = self.db.begin_write().map_err(store_error)?;
        let count = {
            let mut entries = write.open_table(ENTRIES).map_err(store_error)?;
            let mut order = write.open_table(ORDER).map_err(store_error)?;
            let mut meta = write.open_table(META).map_err(store_error)?;
            let count = entries.len().map_err(store_error)?;
            entries.retain(|_, _| false).map_err(store_error)?;
            order.retain(|_, _| false).map_err(store_error)?;
            meta.insert("bytes", 0).map_err(store_error)?;
            count
        };
        write.commit().map_err(store_error)?;
        self.evictions.explicit.fetch_add(count, Ordering::Relaxed);
        Ok(count)
    }

    fn counts(&self) -> Result<(u64, u64), StoreError> {
        let read = self.db.begin_read().map_err(store_error)?;
        let entries = read
            .open_table(ENTRIES)
            .map_err(store_error)?
            .len()
            .map_err(store_error)?;
        let bytes = read
            .open_table(META)
            .map_err(store_error)?
            .get("bytes")
            .map_err(store_error)?
            .map_or(0, |v| v.value());
        Ok((entries, bytes))
    }
}

impl CacheStore for DiskStore {
    fn get<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, Option<Arc<CachedResponse>>> {
        let key = *key;
        self.blocking(move |store| store.read(&key))
    }

    fn put(&self, key: CanonicalKey, entry: Arc<CachedResponse>) -> StoreFuture<'_, ()> {
        self.blocking(move |store| store.write(key, &entry))
    }

    fn remove<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, bool> {
        let key = *key;
        self.blocking(move |store| store.delete(&key, &store.evictions.explicit))
    }

    fn clear(&self) -> StoreFuture<'_, u64> {
        self.blocking(|store| store.delete_all())
    }

    fn stats(&self) -> StoreStats {
        let (entries, bytes) = self.counts().unwrap_or_default();
        StoreStats {
            entries,
            bytes,
            evicted_size: self.evictions.size.load(Ordering::Relaxed),
            evicted_ttl: self.evictions.ttl.load(Ordering::Relaxed),
            evicted_explicit: self.evictions.explicit.load(Ordering::Relaxed),
            remote: None,
        }
    }
}
