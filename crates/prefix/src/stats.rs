//! What the provider's prompt cache gave each static prefix: per
//! fingerprint and model, through the `metrics` facade and a snapshot.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `llm_prefix_requests_total` | counter | `model`, `prefix` |
//! | `llm_prefix_input_tokens_total` | counter | `model`, `prefix` |
//! | `llm_prefix_cached_tokens_total` | counter | `model`, `prefix` |
//! | `llm_prefix_cache_write_tokens_total` | counter | `model`, `prefix` |
//! | `llm_prefix_estimated_tokens` | gauge | `model`, `prefix` |
//! | `llm_prefix_below_minimum_total` | counter | `model` |
//! | `llm_prefix_rewrites_total` | counter | `rewrite` (`sorted_keys`, `reordered_tools`, `moved_volatile`, `breakpoints`, `prompt_cache_key`) |
//! | `llm_prefix_untouched_total` | counter | `reason` (`not_understood`, `unsupported_api`) |
//!
//! `prefix` is the fingerprint in hex; past `max_tracked_prefixes`
//! distinct (prefix, model) pairs, new ones are counted as `other`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use llm_layers_core::Usage;
use metrics::{counter, gauge, Counter, Gauge};

use crate::report::{PrefixFingerprint, PrefixReport};

/// Metric names.
pub mod names {
    /// Requests per prefix.
    pub const REQUESTS: &str = "llm_prefix_requests_total";
    /// Prompt tokens per prefix, as the provider billed them.
    pub const INPUT_TOKENS: &str = "llm_prefix_input_tokens_total";
    /// Prompt tokens the provider read from its cache.
    pub const CACHED_TOKENS: &str = "llm_prefix_cached_tokens_total";
    /// Prompt tokens written to the provider's cache.
    pub const CACHE_WRITE_TOKENS: &str = "llm_prefix_cache_write_tokens_total";
    /// The estimated length of the static prefix.
    pub const ESTIMATED_TOKENS: &str = "llm_prefix_estimated_tokens";
    /// Requests whose static prefix is below the provider's minimum.
    pub const BELOW_MINIMUM: &str = "llm_prefix_below_minimum_total";
    /// Rewrites applied, by kind.
    pub const REWRITES: &str = "llm_prefix_rewrites_total";
    /// Requests forwarded untouched, by reason.
    pub const UNTOUCHED: &str = "llm_prefix_untouched_total";
}

/// One (prefix, model) pair's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct PrefixRow {
    /// The fingerprint; `None` for the `other` row.
    pub fingerprint: Option<PrefixFingerprint>,
    /// The model.
    pub model: String,
    /// Requests sent.
    pub requests: u64,
    /// Responses that reported usage.
    pub responses_with_usage: u64,
    /// Prompt tokens billed.
    pub input_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    pub cached_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write_tokens: u64,
    /// The static prefix's estimated length (latest request).
    pub estimated_prefix_tokens: u64,
    /// The provider's minimum for this model.
    pub minimum_tokens: u64,
}

impl PrefixRow {
    /// Share of prompt tokens served from the provider's cache.
    pub fn hit_ratio(&self) -> f64 {
        ratio(self.cached_tokens, self.input_tokens)
    }

    /// Share of the static prefix served from the cache, over the
    /// responses that reported usage (can exceed 1 when the provider also
    /// caches conversation history).
    pub fn prefix_hit_ratio(&self) -> f64 {
        ratio(
            self.cached_tokens,
            self.estimated_prefix_tokens * self.responses_with_usage,
        )
    }

    /// The static prefix is too short for the provider to cache.
    pub fn below_minimum(&self) -> bool {
        self.estimated_prefix_tokens < self.minimum_tokens
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The layer's statistics; cheap to clone, shared by every clone of the layer.
#[derive(Clone, Default)]
pub struct PrefixStats {
    inner: Arc<Inner>,
}

/// Rows by fingerprint (`None`: the `other` row), then by model: a lookup
/// allocates nothing.
type Rows = HashMap<Option<PrefixFingerprint>, Vec<Arc<Row>>>;

#[derive(Default)]
struct Inner {
    rows: Mutex<Rows>,
    max_rows: usize,
    rewrites: std::sync::OnceLock<[Counter; 5]>,
    untouched: std::sync::OnceLock<[Counter; UNTOUCHED_REASONS.len()]>,
    misses: crate::diagnosis::Misses,
    alerts: Option<Arc<crate::ratio_alert::RatioAlerts>>,
}

/// Rewrite kinds, in label order.
const REWRITE_KINDS: [&str; 5] = [
    "sorted_keys",
    "reordered_tools",
    "moved_volatile",
    "breakpoints",
    "prompt_cache_key",
];
/// Reasons a request is forwarded untouched, in label order.
const UNTOUCHED_REASONS: [&str; 3] = ["not_understood", "unsupported_api", "too_short"];

/// The live counters of one row, with their metric handles.
pub(crate) struct Row {
    fingerprint: Option<PrefixFingerprint>,
    model: String,
    requests: AtomicU64,
    responses: AtomicU64,
    input: AtomicU64,
    cached: AtomicU64,
    writes: AtomicU64,
    estimated: AtomicU64,
    minimum: AtomicU64,
    metrics: RowMetrics,
    alerts: Option<Arc<crate::ratio_alert::RatioAlerts>>,
    window: Mutex<crate::ratio_alert::RowWindow>,
}

struct RowMetrics {
    requests: Counter,
    input: Counter,
    cached: Counter,
    writes: Counter,
    estimated: Gauge,
    below_minimum: Counter,
}

impl PrefixStats {
    pub(crate) fn new(max_rows: usize, alert: Option<crate::ratio_alert::CacheRatioAlert>) -> Self {
        PrefixStats {
            inner: Arc::new(Inner {
                max_rows,
                alerts: alert.map(|alert| Arc::new(crate::ratio_alert::RatioAlerts::new(alert))),
                ..Inner::default()
            }),
        }
    }

    /// Prefixes whose share served from the provider's cache is low now.
    pub fn alerts(&self) -> Vec<crate::ratio_alert::PrefixAlert> {
        self.inner
            .alerts
            .as_ref()
            .map(|alerts| alerts.firing())
            .unwrap_or_default()
    }

    /// The last prompt-cache misses explained (at most 16, newest last):
    /// where each prompt departed from the previous one of its credential
    /// partition, model and route.
    pub fn misses(&self) -> Vec<crate::diagnosis::MissReport> {
        self.inner.misses.reports()
    }

    /// Compares a request's prompt with the previous one of its key.
    pub(crate) fn observe_miss(
        &self,
        key: crate::diagnosis::MissKey,
        model: &str,
        shape: crate::diagnosis::Shape,
        cached: u64,
    ) {
        self.inner.misses.observe(key, model, shape, cached);
    }

    /// Every row, most requested first.
    pub fn snapshot(&self) -> Vec<PrefixRow> {
        let rows = self.lock();
        let mut out: Vec<PrefixRow> = rows.values().flatten().map(|row| row.snapshot()).collect();
        out.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.model.cmp(&b.model)));
        out
    }

    /// Counts a request sent with this report; returns its row.
    pub(crate) fn request(&self, report: &PrefixReport, model: &str) -> Arc<Row> {
        let row = self.row(report, model);
        row.requests.fetch_add(1, Relaxed);
        row.metrics.requests.increment(1);
        row.estimated.store(report.estimated_prefix_tokens, Relaxed);
        row.minimum.store(report.minimum_tokens, Relaxed);
        row.metrics
            .estimated
            .set(report.estimated_prefix_tokens as f64);
        if report.below_minimum() {
            row.metrics.below_minimum.increment(1);
        }
        let rewrites = report.rewrites;
        let applied = [
            rewrites.sorted_keys,
            rewrites.reordered_tools,
            rewrites.moved_volatile > 0,
            rewrites.breakpoints_added > 0,
            rewrites.prompt_cache_key,
        ];
        if applied.contains(&true) {
            let counters = self.inner.rewrites.get_or_init(|| {
                REWRITE_KINDS.map(|kind| counter!(names::REWRITES, "rewrite" => kind))
            });
            for (counter, applied) in counters.iter().zip(applied) {
                if applied {
                    counter.increment(1);
                }
            }
        }
        row
    }

    /// Counts a request forwarded untouched.
    pub(crate) fn untouched(&self, reason: &'static str) {
        let counters = self.inner.untouched.get_or_init(|| {
            UNTOUCHED_REASONS.map(|reason| counter!(names::UNTOUCHED, "reason" => reason))
        });
        let slot = UNTOUCHED_REASONS
            .iter()
            .position(|known| *known == reason)
            .unwrap_or(0);
        counters[slot].increment(1);
    }

    fn row(&self, report: &PrefixReport, model: &str) -> Arc<Row> {
        let fingerprint = report.fingerprint;
        let mut rows = self.lock();
        let find = |rows: &Rows, key: Option<PrefixFingerprint>| {
            rows.get(&key)?
                .iter()
                .find(|row| row.model == model)
                .cloned()
        };
        if let Some(row) = find(&rows, Some(fingerprint)) {
            return row;
        }
        // Counted only when a new pair arrives, which is rare.
        let tracked = rows.values().map(Vec::len).sum::<usize>() < self.inner.max_rows;
        let key = if tracked {
            // A request without static content has nothing to warn about.
            if report.below_minimum() && report.estimated_prefix_tokens > 0 {
                tracing::warn!(
                    prefix = %fingerprint,
                    model,
                    estimated_tokens = report.estimated_prefix_tokens,
                    minimum_tokens = report.minimum_tokens,
                    "static prompt prefix is below the provider's minimum cacheable length"
                );
            }
            Some(fingerprint)
        } else {
            None
        };
        if let Some(row) = find(&rows, key) {
            return row;
        }
        let row = Arc::new(Row::new(key, model.to_owned(), self.inner.alerts.clone()));
        rows.entry(key).or_default().push(row.clone());
        row
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.inner.rows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Row {
    fn new(
        fingerprint: Option<PrefixFingerprint>,
        model: String,
        alerts: Option<Arc<crate::ratio_alert::RatioAlerts>>,
    ) -> Row {
        let prefix = fingerprint.map_or_else(|| "other".to_owned(), |f| f.to_string());
        let labels = [("model", model.clone()), ("prefix", prefix)];
        Row {
            metrics: RowMetrics {
                requests: counter!(names::REQUESTS, &labels),
                input: counter!(names::INPUT_TOKENS, &labels),
                cached: counter!(names::CACHED_TOKENS, &labels),
                writes: counter!(names::CACHE_WRITE_TOKENS, &labels),
                estimated: gauge!(names::ESTIMATED_TOKENS, &labels),
                below_minimum: counter!(names::BELOW_MINIMUM, "model" => model.clone()),
            },
            fingerprint,
            model,
            requests: AtomicU64::new(0),
            responses: AtomicU64::new(0),
            input: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            estimated: AtomicU64::new(0),
            minimum: AtomicU64::new(0),
            alerts,
            window: Mutex::default(),
        }
    }

    /// Counts the usage a response reported.
    pub(crate) fn usage(&self, usage: &Usage) {
        let (estimated, minimum) = (self.estimated.load(Relaxed), self.minimum.load(Relaxed));
        // Only a prefix the provider would cache can be cached too little.
        if let (Some(alerts), Some(fingerprint)) = (&self.alerts, self.fingerprint) {
            if estimated >= minimum && estimated > 0 {
                let prefix = fingerprint.to_string();
                alerts.record(
                    &self.window,
                    &prefix,
                    &self.model,
                    usage.cache_read_tokens,
                    estimated,
                );
            }
        }
        self.responses.fetch_add(1, Relaxed);
        self.input.fetch_add(usage.input_tokens, Relaxed);
        self.cached.fetch_add(usage.cache_read_tokens, Relaxed);
        self.writes.fetch_add(usage.cache_write_tokens, Relaxed);
        self.metrics.input.increment(usage.input_tokens);
        self.metrics.cached.increment(usage.cache_read_tokens);
        self.metrics.writes.increment(usage.cache_write_tokens);
    }

    fn snapshot(&self) -> PrefixRow {
        PrefixRow {
            fingerprint: self.fingerprint,
            model: self.model.clone(),
            requests: self.requests.load(Relaxed),
            responses_with_usage: self.responses.load(Relaxed),
            input_tokens: self.input.load(Relaxed),
            cached_tokens: self.cached.load(Relaxed),
            cache_write_tokens: self.writes.load(Relaxed),
            estimated_prefix_tokens: self.estimated.load(Relaxed),
            minimum_tokens: self.minimum.load(Relaxed),
        }
    }
}
