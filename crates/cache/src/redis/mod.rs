//! The Redis store: one cache for many processes (proxy replicas, app
//! instances), on Redis 7 or Valkey, over `redis://` or `rediss://` (TLS).
//!
//! - **Entries** are in the same byte format as the disk store's
//!   ([`crate::codec`]), so streams replay byte for byte; Redis keeps the
//!   TTL (`SET … PX`). See `keys.rs` for the key layout.
//! - **Fail-open**: every operation has a short timeout; a failure is
//!   counted, the request goes on as a miss, and while Redis is down only
//!   one probe per interval waits for it (see `health.rs`). One log line
//!   when it goes down, one when it comes back.
//! - **Single flight across processes** ([`CacheStore::claim`]): the first
//!   process to miss takes a lock with a lease (`SET NX PX`, renewed while
//!   it runs); the others poll for the entry (every 5 ms, doubling to
//!   100 ms) up to [`RedisConfig::flight_wait`], take the lock if it is
//!   freed without an entry, or call the upstream themselves when the wait
//!   runs out. They get the answer once it is whole and stored.
//!
//! ```no_run
//! use llm_layers_cache::{CacheConfig, CacheLayer, RedisConfig, RedisStore};
//!
//! # async fn run() -> Result<(), llm_layers_cache::StoreError> {
//! let store = RedisStore::connect(RedisConfig::default().url("redis://10.0.0.5:6379/0".into()))?;
//! let layer = CacheLayer::with_store(CacheConfig::default(), store);
//! # Ok(()) }
//! ```

mod config;
mod counters;
mod flight;
mod health;
mod keys;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llm_layers_core::CanonicalKey;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;

pub use config::RedisConfig;
pub use counters::names;

use crate::codec::{decode, encode};
use crate::entry::CachedResponse;
use crate::store::{CacheStore, Claim, StoreError, StoreFuture, StoreStats};
use counters::{Failure, Op, RedisCounters};
use health::Health;
use keys::{check_number, KeyLayout};

/// A store in Redis, shared by every process pointed at the same database
/// and namespace. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    config: RedisConfig,
    keys: KeyLayout,
    health: Health,
    counters: RedisCounters,
}

/// Why an operation gave no answer.
#[derive(Debug, thiserror::Error)]
#[error("redis {0}")]
struct OperationFailed(&'static str);

impl RedisStore {
    /// A store for `config.url`. Connects lazily, in the background: a
    /// Redis that is down (or not yet up) makes misses, not an error. Must
    /// be called inside a Tokio runtime. Fails only on a URL it cannot read.
    pub fn connect(config: RedisConfig) -> Result<RedisStore, StoreError> {
        let client = match &config.root_certificate_pem {
            None => redis::Client::open(config.url.as_str()),
            Some(root) => redis::Client::build_with_tls(
                config.url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root.clone()),
                },
            ),
        }
        .map_err(|_| invalid_url(&config.url))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(4);
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|error| StoreError(Box::new(error)))?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                connection,
                keys: KeyLayout::new(&config.key_prefix, &config.namespace),
                health: Health::new(config.probe_interval),
                counters: RedisCounters::default(),
                config,
            }),
        })
    }

    /// The settings it runs with.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }
}

/// The URL is not repeated: it may hold a password.
fn invalid_url(url: &str) -> StoreError {
    let scheme = url.split("://").next().unwrap_or_default();
    StoreError(Box::new(OperationFailed(if scheme == url {
        "URL has no scheme (redis:// or rediss://)"
    } else {
        "URL could not be read"
    })))
}

impl Inner {
    /// Runs one operation under the fail-open rules: skipped while Redis is
    /// down (but for a probe), cut at `limit`, timed and counted.
    async fn run<T, F>(&self, op: Op, limit: Duration, operation: F) -> Result<T, StoreError>
    where
        F: Future<Output = RedisResult<T>>,
    {
        if !self.health.admits() {
            self.counters.failed(op, Failure::Down);
            return Err(StoreError(Box::new(OperationFailed("is down"))));
        }
        let started = Instant::now();
        let failure = match tokio::time::timeout(limit, operation).await {
            Ok(Ok(answer)) => {
                self.counters.answered(op, started.elapsed());
                if !self.health.is_up() {
                    self.counters.up(true);
                }
                self.health.answered();
                return Ok(answer);
            }
            Ok(Err(error)) if !is_connection_error(&error) => {
                // Redis answered, with an error (out of memory, a wrong
                // type): it is up, this operation failed.
                self.counters.answered(op, started.elapsed());
                self.counters.failed(op, Failure::Error);
                return Err(StoreError(Box::new(error)));
            }
            Ok(Err(_)) => Failure::Error,
            Err(_) => Failure::Timeout,
        };
        self.counters.failed(op, failure);
        if self.health.is_up() {
            self.counters.up(false);
        }
        self.health.failed(failure.as_str());
        Err(StoreError(Box::new(OperationFailed(failure.as_str()))))
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The entry under `key`, checked: a value that does not decode, is
    /// stale, or belongs to another key is a miss (and is removed).
    fn read_value(&self, key: &CanonicalKey, value: &[u8]) -> Option<Arc<CachedResponse>> {
        match decode(value) {
            Ok((entry, check)) if check == check_number(key) => {
                entry.is_fresh().then(|| Arc::new(entry))
            }
            _ => {
                self.counters.corrupt();
                None
            }
        }
    }

    async fn get(&self, key: &CanonicalKey) -> Result<Option<Arc<CachedResponse>>, StoreError> {
        let name = self.keys.entry(key);
        let mut connection = self.connection();
        let value: Option<Vec<u8>> = self
            .run(Op::Get, self.config.operation_timeout, async {
                redis::cmd("GET")
                    .arg(&name)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let entry = match value {
            Some(value) => {
                let entry = self.read_value(key, &value);
                if entry.is_none() {
                    self.drop_unusable(&name).await;
                }
                entry
            }
            None => None,
        };
        self.counters.looked_up(entry.is_some());
        Ok(entry)
    }

    /// Removes a value that cannot be served, so that neither this process
    /// nor another meets it again.
    async fn drop_unusable(&self, name: &str) {
        let mut connection = self.connection();
        let _ = self
            .run(Op::Remove, self.config.operation_timeout, async {
                redis::cmd("UNLINK")
                    .arg(name)
                    .query_async::<i64>(&mut connection)
                    .await
            })
            .await;
    }

    async fn put(&self, key: CanonicalKey, entry: &CachedResponse) -> Result<(), StoreError> {
        if entry.size() > self.config.max_entry_bytes {
            return Err(StoreError::refused("larger than the Redis store's entries"));
        }
        let left = entry.ttl.saturating_sub(entry.age());
        let millis = left.as_millis().min(u64::MAX as u128) as u64;
        if millis == 0 {
            return Ok(());
        }
        let value = encode(entry, check_number(&key));
        let mut connection = self.connection();
        self.run(Op::Set, self.config.operation_timeout, async {
            redis::cmd("SET")
                .arg(self.keys.entry(&key))
                .arg(value)
                .arg("PX")
                .arg(millis)
                .query_async::<()>(&mut connection)
                .await
        })
        .await
    }

    async fn remove(&self, key: &CanonicalKey) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let removed: i64 = self
            .run(Op::Remove, self.config.operation_timeout, async {
                redis::cmd("UNLINK")
                    .arg(self.keys.entry(key))
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(removed > 0)
    }

    /// Removes the namespace's entries with `SCAN` (never `KEYS`, which
    /// blocks the server), a batch at a time.
    async fn clear(&self) -> Result<u64, StoreError> {
        let pattern = self.keys.all_entries();
        let step_limit = self.config.operation_timeout.max(Duration::from_secs(2));
        let mut connection = self.connection();
        let mut cursor: u64 = 0;
        let mut removed = 0u64;
        loop {
            let (next, names): (u64, Vec<String>) = self
                .run(Op::Clear, step_limit, async {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut connection)
                        .await
                })
                .await?;
            if !names.is_empty() {
                let count: i64 = self
                    .run(Op::Clear, step_limit, async {
                        redis::cmd("UNLINK")
                            .arg(&names)
                            .query_async(&mut connection)
                            .await
                    })
                    .await?;
                removed += count.max(0) as u64;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

/// Whether the connection failed (as opposed to Redis answering an error).
fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

impl CacheStore for RedisStore {
    fn get<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, Option<Arc<CachedResponse>>> {
        Box::pin(self.inner.get(key))
    }

    fn put(&self, key: CanonicalKey, entry: Arc<CachedResponse>) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.inner.put(key, &entry).await })
    }

    fn remove<'a>(&'a self, key: &'a CanonicalKey) -> StoreFuture<'a, bool> {
        Box::pin(self.inner.remove(key))
    }

    fn clear(&self) -> StoreFuture<'_, u64> {
        Box::pin(self.inner.clear())
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            remote: Some(self.inner.counters.snapshot(self.inner.health.is_up())),
            ..StoreStats::default()
        }
    }

    fn claim<'a>(&'a self, key: &'a CanonicalKey) -> Option<StoreFuture<'a, Claim>> {
        if self.inner.config.flight_wait.is_zero() {
            return None;
        }
        Some(Box::pin(flight::claim(self.inner.clone(), *key)))
    }
}
