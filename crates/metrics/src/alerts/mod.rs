//! Health alerts, evaluated over a sliding window per model: a high error
//! rate, a low response-cache hit rate (once enough calls were seen), a
//! p95 latency above the model's bound, and an open circuit breaker (seen
//! in the breaker's own answers, `x-llm-circuit: open`).
//!
//! Each alert is a gauge `llm_alert{kind,model}` (1 firing, 0 not), one
//! log warning when it starts and one line when it ends (never one per
//! request), and an entry in [`Alerts::firing`] while it fires.

pub(crate) mod window;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

pub(crate) use window::Windows;

/// Metric name of the alert gauges.
pub const ALERT: &str = "llm_alert";

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Failed calls above [`AlertConfig::max_error_rate`].
    ErrorRate,
    /// Response-cache hits below [`AlertConfig::min_cache_hit_rate`].
    CacheHitRate,
    /// p95 latency above the model's bound.
    LatencyP95,
    /// The model's circuit breaker is open.
    CircuitOpen,
}

impl AlertKind {
    /// The `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ErrorRate => "error_rate",
            AlertKind::CacheHitRate => "cache_hit_rate",
            AlertKind::LatencyP95 => "latency_p95",
            AlertKind::CircuitOpen => "circuit_open",
        }
    }
}

/// Thresholds of the health alerts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AlertConfig {
    /// The sliding window the rates and percentiles cover. Default 5 min.
    pub window: Duration,
    /// Error rate above which `error_rate` fires. Default 0.05.
    pub max_error_rate: f64,
    /// Calls a window needs before `error_rate` is judged. Default 20.
    pub min_calls_for_errors: u64,
    /// Response-cache hit rate below which `cache_hit_rate` fires.
    /// Default 0.30.
    pub min_cache_hit_rate: f64,
    /// Calls a window needs before `cache_hit_rate` is judged. Default 50.
    pub min_calls_for_cache: u64,
    /// p95 latency bounds by model (an exact name, or a prefix ending in
    /// `*`); the first match wins. Default none.
    pub latency_p95: Vec<(String, Duration)>,
    /// The bound for models `latency_p95` does not name. Default none.
    pub default_latency_p95: Option<Duration>,
    /// Calls a window needs before its p95 is judged. Default 20.
    pub min_calls_for_latency: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            window: Duration::from_secs(300),
            max_error_rate: 0.05,
            min_calls_for_errors: 20,
            min_cache_hit_rate: 0.30,
            min_calls_for_cache: 50,
            latency_p95: Vec::new(),
            default_latency_p95: None,
            min_calls_for_latency: 20,
        }
    }
}

llm_layers_core::config_setters!(AlertConfig {
    window: Duration,
    max_error_rate: f64,
    min_calls_for_errors: u64,
    min_cache_hit_rate: f64,
    min_calls_for_cache: u64,
    latency_p95: Vec<(String, Duration)>,
    default_latency_p95: Option<Duration>,
    min_calls_for_latency: u64,
});

impl AlertConfig {
    /// The p95 bound of a model, if any.
    pub fn latency_bound(&self, model: &str) -> Option<Duration> {
        self.latency_p95
            .iter()
            .find(|(pattern, _)| match pattern.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => model == pattern,
            })
            .map(|(_, bound)| *bound)
            .or(self.default_latency_p95)
    }
}

/// A firing alert, as `/stats` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FiringAlert {
    /// What it is about.
    pub kind: AlertKind,
    /// The model label.
    pub model: String,
    /// The figure that fired it (a rate, or seconds), and its threshold.
    pub value: f64,
    /// The threshold crossed.
    pub threshold: f64,
    /// Seconds it has been firing.
    pub for_seconds: u64,
}

struct Firing {
    since: Instant,
    value: f64,
    threshold: f64,
}

/// The alerts' states: shared by a layer's services. Cheap to clone.
#[derive(Clone, Default)]
pub struct Alerts {
    firing: Arc<Mutex<BTreeMap<(AlertKind, String), Firing>>>,
}

impl Alerts {
    /// Records whether an alert holds now; starts and ends are logged once
    /// and set the gauge.
    pub(crate) fn set(&self, kind: AlertKind, model: &str, holds: Option<(f64, f64)>) {
        let mut firing = self.firing.lock().unwrap_or_else(|e| e.into_inner());
        // Called on every call: looked up without making a key (the map
        // holds only the alerts firing now, usually none).
        let present = firing
            .keys()
            .any(|(firing_kind, firing_model)| *firing_kind == kind && firing_model == model);
        if holds.is_none() && !present {
            return;
        }
        let key = (kind, model.to_owned());
        match (holds, present) {
            (Some((value, threshold)), false) => {
                tracing::warn!(target: "llm_layers::alerts", kind = kind.as_str(), model, value, threshold, "alert started");
                metrics::gauge!(ALERT, "kind" => kind.as_str(), "model" => model.to_owned())
                    .set(1.0);
                firing.insert(
                    key,
                    Firing {
                        since: Instant::now(),
                        value,
                        threshold,
                    },
                );
            }
            (Some((value, _)), true) => {
                if let Some(state) = firing.get_mut(&key) {
                    state.value = value;
                }
            }
            (None, true) => {
                firing.remove(&key);
                tracing::info!(target: "llm_layers::alerts", kind = kind.as_str(), model, "alert ended");
                metrics::gauge!(ALERT, "kind" => kind.as_str(), "model" => model.to_owned())
                    .set(0.0);
            }
            (None, false) => {}
        }
    }

    /// The alerts firing now.
    pub fn firing(&self) -> Vec<FiringAlert> {
        let firing = self.firing.lock().unwrap_or_else(|e| e.into_inner());
        firing
            .iter()
            .map(|((kind, model), state)| FiringAlert {
                kind: *kind,
                model: model.clone(),
                value: state.value,
                threshold: state.threshold,
                for_seconds: state.since.elapsed().as_secs(),
            })
            .collect()
    }
}
