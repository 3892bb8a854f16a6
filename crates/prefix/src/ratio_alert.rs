//! The prompt-cache alert: a static prefix long enough to be cached whose
//! share served from the provider's cache, over a sliding window, is below
//! a threshold. Per prefix and model; the gauge `llm_alert{kind=
//! "prompt_cache_ratio",model}` counts the prefixes of a model firing (the
//! prefix is no label: its fingerprint stays behind the admin token), one
//! log line marks each start and end, and [`crate::PrefixStats::alerts`]
//! lists them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

const BUCKETS: u64 = 10;

/// Thresholds of the prompt-cache alert.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CacheRatioAlert {
    /// The share of the static prefix the provider should serve from its
    /// cache; below it the alert fires. Default 0.5.
    pub min_ratio: f64,
    /// The sliding window. Default 5 minutes.
    pub window: Duration,
    /// Responses a window needs before it is judged. Default 10.
    pub min_responses: u64,
}

impl Default for CacheRatioAlert {
    fn default() -> Self {
        CacheRatioAlert {
            min_ratio: 0.5,
            window: Duration::from_secs(300),
            min_responses: 10,
        }
    }
}

llm_layers_core::config_setters!(CacheRatioAlert {
    min_ratio: f64,
    window: Duration,
    min_responses: u64,
});

/// A prefix whose provider-cache ratio is low.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrefixAlert {
    /// The prefix's fingerprint.
    pub prefix: String,
    /// The model.
    pub model: String,
    /// The share of the prefix served from the cache over the window.
    pub ratio: f64,
    /// The threshold.
    pub threshold: f64,
    /// Seconds it has been firing.
    pub for_seconds: u64,
}

/// One row's window: per bucket, responses, cached tokens and the prefix
/// tokens that could have been cached.
#[derive(Default)]
pub(crate) struct RowWindow {
    buckets: Vec<(u64, u64, u64, u64)>,
}

/// Every row's alert state.
pub(crate) struct RatioAlerts {
    config: CacheRatioAlert,
    started: Instant,
    firing: Mutex<BTreeMap<(String, String), (Instant, f64)>>,
}

impl RatioAlerts {
    pub fn new(config: CacheRatioAlert) -> RatioAlerts {
        RatioAlerts {
            config,
            started: Instant::now(),
            firing: Mutex::default(),
        }
    }

    /// Counts a response of a cacheable prefix and judges the row.
    pub fn record(
        &self,
        window: &Mutex<RowWindow>,
        prefix: &str,
        model: &str,
        cached: u64,
        possible: u64,
    ) {
        let width = (self.config.window / BUCKETS as u32).max(Duration::from_millis(1));
        let index = (self.started.elapsed().as_nanos() / width.as_nanos()) as u64;
        let (responses, cached, possible) = {
            let mut window = window.lock().unwrap_or_else(|e| e.into_inner());
            window.buckets.retain(|bucket| bucket.0 + BUCKETS > index);
            match window.buckets.last_mut() {
                Some(bucket) if bucket.0 == index => {
                    bucket.1 += 1;
                    bucket.2 += cached;
                    bucket.3 += possible;
                }
                _ => window.buckets.push((index, 1, cached, possible)),
            }
            window
                .buckets
                .iter()
                .fold((0, 0, 0), |sum, b| (sum.0 + b.1, sum.1 + b.2, sum.2 + b.3))
        };
        let ratio = cached as f64 / possible.max(1) as f64;
        let low = responses >= self.config.min_responses && ratio < self.config.min_ratio;
        self.set(prefix, model, low.then_some(ratio));
    }

    fn set(&self, prefix: &str, model: &str, low: Option<f64>) {
        let mut firing = self.firing.lock().unwrap_or_else(|e| e.into_inner());
        let key = (prefix.to_owned(), model.to_owned());
        let was = firing.contains_key(&key);
        match low {
            Some(ratio) => {
                let since = firing.get(&key).map_or_else(Instant::now, |state| state.0);
                firing.insert(key, (since, ratio));
                if !was {
                    tracing::warn!(target: "llm_layers::alerts", kind = "prompt_cache_ratio", model, prefix, ratio, threshold = self.config.min_ratio, "alert started");
                }
            }
            None if was => {
                firing.remove(&key);
                tracing::info!(target: "llm_layers::alerts", kind = "prompt_cache_ratio", model, prefix, "alert ended");
            }
            None => return,
        }
        let of_model = firing.keys().filter(|(_, m)| m == model).count();
        metrics::gauge!("llm_alert", "kind" => "prompt_cache_ratio", "model" => model.to_owned())
            .set(of_model as f64);
    }

    pub fn firing(&self) -> Vec<PrefixAlert> {
        let firing = self.firing.lock().unwrap_or_else(|e| e.into_inner());
        firing
            .iter()
            .map(|((prefix, model), (since, ratio))| PrefixAlert {
                prefix: prefix.clone(),
                model: model.clone(),
                ratio: *ratio,
                threshold: self.config.min_ratio,
                for_seconds: since.elapsed().as_secs(),
            })
            .collect()
    }
}
