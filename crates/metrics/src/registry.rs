//! The per-model entries (handles and statistics) a layer shares with its
//! services, with the model label cap applied.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use llm_layers_core::hash_map::HashMap;
use llm_layers_core::{CacheOutcome, Provider, TokenKind, Usage};

use crate::alerts::window::{ModelWindow, Seen};
use crate::alerts::Windows;
use crate::classify::ErrorKind;
use crate::config::MetricsConfig;
use crate::handles::Handles;
use crate::names::Names;
use crate::stats::{ModelStats, StatsSnapshot};

/// The model label for calls whose model is not known.
pub const UNKNOWN_MODEL: &str = "unknown";
/// The model label once the cap is reached.
pub const OTHER_MODEL: &str = "other";

/// One (provider, model label) pair.
pub(crate) struct Entry {
    pub handles: Handles,
    stats: Mutex<ModelStats>,
    /// The label's alert window.
    window: Mutex<ModelWindow>,
}

/// How one call ended.
pub(crate) struct Finished<'a> {
    pub duration: Duration,
    pub time_to_first_chunk: Option<Duration>,
    pub error: Option<ErrorKind>,
    pub cache: Option<CacheOutcome>,
    pub usage: Option<&'a Usage>,
    /// The model the request named.
    pub model: Option<&'a str>,
    /// The answer was an open circuit breaker's.
    pub circuit_open: bool,
}

pub(crate) struct Registry {
    config: MetricsConfig,
    names: Names,
    entries: RwLock<HashMap<Provider, HashMap<String, Arc<Entry>>>>,
    models: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
    cache_hits: AtomicU64,
    pub windows: Windows,
}

impl Registry {
    pub fn new(config: MetricsConfig) -> Registry {
        let names = Names {
            otel: config.opentelemetry_names,
        };
        names.describe();
        Registry {
            windows: Windows::new(config.alerts.clone()),
            config,
            names,
            entries: RwLock::new(HashMap::default()),
            models: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The entry for a call; the model label is capped.
    pub fn entry(&self, provider: Provider, model: Option<&str>) -> Arc<Entry> {
        let model = model.unwrap_or(UNKNOWN_MODEL);
        if let Some(entry) = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&provider)
            .and_then(|models| models.get(model))
        {
            return entry.clone();
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let known_anywhere = entries.values().any(|models| models.contains_key(model));
        let label = if known_anywhere || model == UNKNOWN_MODEL || model == OTHER_MODEL {
            model
        } else if self.models.load(Ordering::Relaxed) < self.config.max_models as u64 {
            self.models.fetch_add(1, Ordering::Relaxed);
            model
        } else {
            OTHER_MODEL
        };
        let models = entries.entry(provider).or_default();
        if let Some(entry) = models.get(label) {
            return entry.clone();
        }
        let entry = Arc::new(Entry {
            handles: Handles::new(self.names, provider.as_str(), label),
            stats: Mutex::new(ModelStats::default()),
            window: Mutex::default(),
        });
        models.insert(label.to_owned(), entry.clone());
        entry
    }

    pub fn finish(&self, entry: &Entry, finished: Finished<'_>) {
        let handles = &entry.handles;
        handles.request(finished.error, finished.cache);
        handles.duration(finished.duration.as_secs_f64());
        if let Some(first) = finished.time_to_first_chunk {
            handles.time_to_first_chunk(first.as_secs_f64());
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        if finished.error.is_some() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let from_cache = finished.cache.is_some_and(CacheOutcome::served_from_cache);
        if from_cache {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        self.windows.record(
            handles.model(),
            &entry.window,
            Seen {
                error: finished.error.is_some(),
                from_cache,
                duration: finished.duration,
                circuit_open: finished.circuit_open,
            },
        );
        let mut stats = entry.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.call(
            finished.duration,
            finished.time_to_first_chunk,
            finished.error,
        );
        if let Some(usage) = finished.usage {
            // The answer's model (a dated version) or the request's prices it.
            let model = usage.model.as_deref().or(finished.model);
            match model.and_then(|model| self.config.prices.price(model)) {
                Some(price) => {
                    let cost = price.cost(usage);
                    stats.cost(cost, from_cache);
                    handles.cost(cost, from_cache);
                }
                None => {
                    stats.unpriced();
                    handles.unpriced();
                }
            }
            for (kind, count) in TokenKind::ALL.map(|kind| (kind.index(), usage.count(kind))) {
                if count == 0 {
                    continue;
                }
                stats.tokens(kind, count, from_cache);
                if from_cache {
                    handles.saved(kind, count);
                } else {
                    handles.tokens(kind, count);
                }
            }
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let calls = self.calls.load(Ordering::Relaxed);
        let mut snapshot = StatsSnapshot {
            total_calls: calls,
            total_errors: self.errors.load(Ordering::Relaxed),
            cache_hit_rate: if calls == 0 {
                0.0
            } else {
                self.cache_hits.load(Ordering::Relaxed) as f64 / calls as f64
            },
            alerts: self.windows.alerts.firing(),
            ..StatsSnapshot::default()
        };
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        for (provider, models) in entries.iter() {
            for (label, entry) in models {
                let stats = entry.stats.lock().unwrap_or_else(|e| e.into_inner());
                stats.add_to(provider.as_str(), label, &mut snapshot);
            }
        }
        snapshot
    }
}
