//! Cache statistics: kept in process and emitted through `metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use std::collections::BTreeMap;

use llm_layers_core::completeness::Incomplete;
use metrics::Counter;
use serde::Serialize;

use crate::store::StoreStats;

/// Metric names.
pub mod names {
    /// Counter: lookups, by `outcome` (`hit`, `miss`, `bypass`, `refresh`).
    pub const LOOKUPS: &str = "llm_cache_lookups_total";
    /// Counter: answers the store admitted.
    pub const STORES: &str = "llm_cache_stores_total";
    /// Counter: whole answers the store did not admit (larger than the
    /// store, or its admission policy kept other entries).
    pub const STORE_REFUSED: &str = "llm_cache_store_refused_total";
    /// Counter: store failures (the request went upstream instead).
    pub const STORE_ERRORS: &str = "llm_cache_store_errors_total";
    /// Counter: answers not stored, by `reason` (`status`, `body_error`,
    /// `dropped`, `too_large`, `no_end_marker`, `stream_error`,
    /// `invalid_json`, `length_mismatch`, `forbidden`).
    pub const NOT_STORED: &str = "llm_cache_not_stored_total";
}

/// The layer's counters.
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    refreshes: AtomicU64,
    stores: AtomicU64,
    not_stored: [AtomicU64; Incomplete::ALL.len()],
    store_errors: AtomicU64,
    refused: AtomicU64,
    /// The `metrics` handles, looked up in the recorder once (on first use,
    /// so under whichever recorder the layer first runs), not per request.
    handles: OnceLock<Handles>,
}

#[derive(Debug)]
struct Handles {
    hit: Counter,
    miss: Counter,
    bypass: Counter,
    refresh: Counter,
    stored: Counter,
    store_error: Counter,
    refused: Counter,
    not_stored: [Counter; Incomplete::ALL.len()],
}

impl Handles {
    fn new() -> Handles {
        let lookup =
            |outcome: &'static str| metrics::counter!(names::LOOKUPS, "outcome" => outcome);
        Handles {
            hit: lookup("hit"),
            miss: lookup("miss"),
            bypass: lookup("bypass"),
            refresh: lookup("refresh"),
            stored: metrics::counter!(names::STORES),
            store_error: metrics::counter!(names::STORE_ERRORS),
            refused: metrics::counter!(names::STORE_REFUSED),
            not_stored: Incomplete::ALL
                .map(|reason| metrics::counter!(names::NOT_STORED, "reason" => reason.as_str())),
        }
    }
}

impl CacheCounters {
    fn handles(&self) -> &Handles {
        self.handles.get_or_init(Handles::new)
    }

    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.handles().hit.increment(1);
    }

    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.handles().miss.increment(1);
    }

    pub fn bypass(&self) {
        self.bypasses.fetch_add(1, Ordering::Relaxed);
        self.handles().bypass.increment(1);
    }

    /// A miss, or a refresh: as the plan calls it.
    pub fn missed(&self, outcome: llm_layers_core::CacheOutcome) {
        match outcome {
            llm_layers_core::CacheOutcome::Refresh => self.refresh(),
            _ => self.miss(),
        }
    }

    pub fn refresh(&self) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        self.handles().refresh.increment(1);
    }

    pub fn stored(&self) {
        self.stores.fetch_add(1, Ordering::Relaxed);
        self.handles().stored.increment(1);
    }

    /// An answer was not stored, for this reason.
    pub fn not_stored(&self, reason: Incomplete) {
        self.not_stored[reason.index()].fetch_add(1, Ordering::Relaxed);
        self.handles().not_stored[reason.index()].increment(1);
    }

    /// Counts what a store's `put` answered: admitted, refused, or failed.
    pub fn put_answered(&self, answer: &Result<(), crate::store::StoreError>) {
        match answer {
            Ok(()) => self.stored(),
            Err(error) if error.is_refused() => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                self.handles().refused.increment(1);
            }
            Err(_) => self.store_error(),
        }
    }

    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        self.handles().store_error.increment(1);
    }

    pub fn snapshot(&self, store: StoreStats) -> CacheStats {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let not_stored: BTreeMap<&'static str, u64> = Incomplete::ALL
            .iter()
            .map(|reason| {
                let count = self.not_stored[reason.index()].load(Ordering::Relaxed);
                (reason.as_str(), count)
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        let not_stored_incomplete = Incomplete::ALL
            .iter()
            .filter(|reason| !matches!(reason, Incomplete::Status | Incomplete::Forbidden))
            .map(|reason| self.not_stored[reason.index()].load(Ordering::Relaxed))
            .sum();
        CacheStats {
            hits,
            misses,
            bypasses: self.bypasses.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
            stores: self.stores.load(Ordering::Relaxed),
            not_stored_incomplete,
            not_stored,
            store_errors: self.store_errors.load(Ordering::Relaxed),
            store_refused: self.refused.load(Ordering::Relaxed),
            hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            store,
        }
    }
}

/// The cache's figures at one moment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheStats {
    /// Answers served from the cache.
    pub hits: u64,
    /// Lookups that found nothing fresh.
    pub misses: u64,
    /// Requests the cache stayed out of (mode, `no-store`, not cacheable).
    pub bypasses: u64,
    /// Requests that skipped the read and refreshed the entry (`no-cache`).
    pub refreshes: u64,
    /// Answers the store admitted.
    pub stores: u64,
    /// Whole answers the store did not admit (larger than the store, or
    /// its admission policy kept other entries).
    pub store_refused: u64,
    /// Answers not stored because they were not whole: failed, cut, ended
    /// without their end marker, not valid JSON, dropped or too large.
    pub not_stored_incomplete: u64,
    /// Answers not stored, by reason (see [`Incomplete`]); reasons never
    /// seen are left out.
    pub not_stored: BTreeMap<&'static str, u64>,
    /// Store failures.
    pub store_errors: u64,
    /// `hits / (hits + misses)`.
    pub hit_rate: f64,
    /// What the store holds and has evicted, by cause.
    pub store: StoreStats,
}
