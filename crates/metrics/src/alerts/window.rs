//! The sliding windows alerts are judged on: per model label, ten buckets
//! each a tenth of the window long, holding calls, errors, cache hits and
//! latencies. Rates are judged at every call; the p95 (a merge of ten
//! histograms) at most once a second or every 32 calls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{AlertConfig, AlertKind, Alerts};

const BUCKETS: usize = 10;

struct Bucket {
    index: u64,
    calls: u64,
    errors: u64,
    hits: u64,
    latency: Histogram<u64>,
}

impl Bucket {
    fn new(index: u64) -> Bucket {
        Bucket {
            index,
            calls: 0,
            errors: 0,
            hits: 0,
            // Milliseconds up to an hour, 2 significant digits.
            latency: Histogram::new_with_bounds(1, 3_600_000, 2)
                .unwrap_or_else(|_| Histogram::new(2).expect("2 digits is valid")),
        }
    }
}

/// One model label's window; kept in the label's registry entry.
#[derive(Default)]
pub(crate) struct ModelWindow {
    buckets: Vec<Bucket>,
    latency_judged: Option<Instant>,
    calls_since_latency: u64,
}

/// One call, as alerts see it.
pub(crate) struct Seen {
    pub error: bool,
    pub from_cache: bool,
    pub duration: Duration,
    pub circuit_open: bool,
}

/// The thresholds, the clock the buckets count from, and the alerts.
pub(crate) struct Windows {
    config: AlertConfig,
    started: Instant,
    pub alerts: Alerts,
}

impl Windows {
    pub fn new(config: AlertConfig) -> Windows {
        Windows {
            config,
            started: Instant::now(),
            alerts: Alerts::default(),
        }
    }

    fn bucket_index(&self, now: Instant) -> u64 {
        let width = (self.config.window / BUCKETS as u32).max(Duration::from_millis(1));
        (now.duration_since(self.started).as_nanos() / width.as_nanos()) as u64
    }

    /// Counts a call in its model label's window and judges the alerts.
    pub fn record(&self, model: &str, window: &Mutex<ModelWindow>, seen: Seen) {
        // The breaker's own answer says at once whether it is open.
        if seen.circuit_open {
            self.alerts
                .set(AlertKind::CircuitOpen, model, Some((1.0, 1.0)));
        } else if !seen.from_cache {
            self.alerts.set(AlertKind::CircuitOpen, model, None);
        }
        let now = Instant::now();
        let index = self.bucket_index(now);
        let mut window = window.lock().unwrap_or_else(|e| e.into_inner());
        window
            .buckets
            .retain(|bucket| bucket.index + BUCKETS as u64 > index);
        if window
            .buckets
            .last()
            .is_none_or(|bucket| bucket.index != index)
        {
            window.buckets.push(Bucket::new(index));
        }
        if let Some(bucket) = window.buckets.last_mut() {
            bucket.calls += 1;
            bucket.errors += u64::from(seen.error);
            bucket.hits += u64::from(seen.from_cache);
            if !seen.error && !seen.from_cache {
                let _ = bucket
                    .latency
                    .record((seen.duration.as_millis() as u64).max(1));
            }
        }
        self.judge_rates(model, &window.buckets);
        window.calls_since_latency += 1;
        let due = window.calls_since_latency >= 32
            || window
                .latency_judged
                .is_none_or(|judged| now.duration_since(judged) >= Duration::from_secs(1));
        if due {
            window.latency_judged = Some(now);
            window.calls_since_latency = 0;
            self.judge_latency(model, &window.buckets);
        }
    }

    fn judge_rates(&self, model: &str, buckets: &[Bucket]) {
        let config = &self.config;
        let calls: u64 = buckets.iter().map(|b| b.calls).sum();
        let errors: u64 = buckets.iter().map(|b| b.errors).sum();
        let hits: u64 = buckets.iter().map(|b| b.hits).sum();
        let rate = |part: u64| part as f64 / calls.max(1) as f64;
        let error_rate = (calls >= config.min_calls_for_errors
            && rate(errors) > config.max_error_rate)
            .then(|| (rate(errors), config.max_error_rate));
        self.alerts.set(AlertKind::ErrorRate, model, error_rate);
        let hit_rate = (calls >= config.min_calls_for_cache
            && rate(hits) < config.min_cache_hit_rate)
            .then(|| (rate(hits), config.min_cache_hit_rate));
        self.alerts.set(AlertKind::CacheHitRate, model, hit_rate);
    }

    fn judge_latency(&self, model: &str, buckets: &[Bucket]) {
        let config = &self.config;
        let latency = config.latency_bound(model).and_then(|bound| {
            let mut merged = Bucket::new(0).latency;
            for bucket in buckets {
                let _ = merged.add(&bucket.latency);
            }
            if merged.len() < config.min_calls_for_latency {
                return None;
            }
            let p95 = Duration::from_millis(merged.value_at_quantile(0.95));
            (p95 > bound).then_some((p95.as_secs_f64(), bound.as_secs_f64()))
        });
        self.alerts.set(AlertKind::LatencyP95, model, latency);
    }
}
