//! The in-process statistics an application can serve as JSON, in the shape
//! the seed design used. They work with or without a `metrics` recorder.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::classify::{ErrorKind, ERROR_KINDS};
use crate::handles::TOKEN_KINDS;
use llm_layers_core::TokenKind;

/// Latencies are kept in microseconds from 1 µs to 1 hour with 3
/// significant digits (0.1% precision).
const MAX_MICROS: u64 = 3_600_000_000;

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("3 digits is valid"))
}

fn micros(duration: Duration) -> u64 {
    (duration.as_micros() as u64).clamp(1, MAX_MICROS)
}

/// The running statistics of one model label.
pub(crate) struct ModelStats {
    calls: u64,
    errors: [u64; ERROR_KINDS.len()],
    tokens: [u64; TOKEN_KINDS.len()],
    saved: [u64; TOKEN_KINDS.len()],
    latency: Histogram<u64>,
    time_to_first_chunk: Histogram<u64>,
    spent_usd: f64,
    saved_usd: CostSaved,
    unpriced_calls: u64,
}

impl Default for ModelStats {
    fn default() -> Self {
        ModelStats {
            calls: 0,
            errors: [0; ERROR_KINDS.len()],
            tokens: [0; TOKEN_KINDS.len()],
            saved: [0; TOKEN_KINDS.len()],
            latency: latency_histogram(),
            time_to_first_chunk: latency_histogram(),
            spent_usd: 0.0,
            saved_usd: CostSaved::default(),
            unpriced_calls: 0,
        }
    }
}

impl ModelStats {
    pub fn call(
        &mut self,
        duration: Duration,
        time_to_first_chunk: Option<Duration>,
        error: Option<ErrorKind>,
    ) {
        self.calls += 1;
        let _ = self.latency.record(micros(duration));
        if let Some(first) = time_to_first_chunk {
            let _ = self.time_to_first_chunk.record(micros(first));
        }
        if let Some(kind) = error {
            self.errors[kind.index()] += 1;
        }
    }

    pub fn tokens(&mut self, kind: usize, count: u64, saved: bool) {
        let slot = if saved {
            &mut self.saved[kind]
        } else {
            &mut self.tokens[kind]
        };
        *slot = slot.saturating_add(count);
    }

    /// A priced call: what it cost (or, served from the response cache,
    /// what the original call cost, saved), and what the provider's prompt
    /// cache took off it.
    pub fn cost(&mut self, cost: crate::prices::Cost, from_cache: bool) {
        if from_cache {
            self.saved_usd.response_cache += cost.spent;
        } else {
            self.spent_usd += cost.spent;
            self.saved_usd.prompt_cache += cost.prompt_cache_saved;
        }
    }

    /// A call with usage whose model has no price.
    pub fn unpriced(&mut self) {
        self.unpriced_calls += 1;
    }

    fn snapshot(&self) -> ModelSnapshot {
        let ms = |histogram: &Histogram<u64>, quantile: f64| {
            if histogram.is_empty() {
                0.0
            } else {
                histogram.value_at_quantile(quantile) as f64 / 1000.0
            }
        };
        let by_kind = |counts: &[u64; TOKEN_KINDS.len()]| {
            let count = |kind: TokenKind| counts[kind.index()];
            TokensByKind {
                input: count(TokenKind::Input),
                output: count(TokenKind::Output),
                cache_read: count(TokenKind::CacheRead),
                cache_write: count(TokenKind::CacheWrite),
                reasoning: count(TokenKind::Reasoning),
            }
        };
        ModelSnapshot {
            calls: self.calls,
            tokens: self.tokens[TokenKind::Input.index()] + self.tokens[TokenKind::Output.index()],
            tokens_by_kind: by_kind(&self.tokens),
            tokens_saved: by_kind(&self.saved),
            latency_p50: ms(&self.latency, 0.50),
            latency_p95: ms(&self.latency, 0.95),
            latency_p99: ms(&self.latency, 0.99),
            latency_avg: if self.latency.is_empty() {
                0.0
            } else {
                self.latency.mean() / 1000.0
            },
            ttfc_p50: ms(&self.time_to_first_chunk, 0.50),
            ttfc_p95: ms(&self.time_to_first_chunk, 0.95),
            cost_usd: self.spent_usd,
            cost_saved_usd: self.saved_usd,
            unpriced_calls: self.unpriced_calls,
        }
    }

    /// Adds this model's figures to a snapshot under `label` (prefixed with
    /// the provider if another provider has a model of that name).
    pub fn add_to(&self, provider: &str, label: &str, snapshot: &mut StatsSnapshot) {
        let label = if snapshot.by_model.contains_key(label) {
            format!("{provider}/{label}")
        } else {
            label.to_owned()
        };
        let label = label.as_str();
        let model = self.snapshot();
        snapshot.total_cost_usd += model.cost_usd;
        snapshot.total_cost_saved_usd.response_cache += model.cost_saved_usd.response_cache;
        snapshot.total_cost_saved_usd.prompt_cache += model.cost_saved_usd.prompt_cache;
        snapshot.by_model.insert(label.to_owned(), model);
        for (kind, count) in ERROR_KINDS.iter().zip(self.errors) {
            if count > 0 {
                *snapshot
                    .errors
                    .entry(format!("{label}:{}", kind.as_str()))
                    .or_default() += count;
            }
        }
    }
}

/// Everything the layer has seen, as JSON-ready values. Latencies are in
/// milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// Calls that ended (successfully or not).
    pub total_calls: u64,
    /// Calls that failed.
    pub total_errors: u64,
    /// Calls answered from the response cache, over all calls.
    pub cache_hit_rate: f64,
    /// Per model label.
    pub by_model: BTreeMap<String, ModelSnapshot>,
    /// Failures per `model:kind`.
    pub errors: BTreeMap<String, u64>,
    /// Dollars spent on calls, all models.
    pub total_cost_usd: f64,
    /// Dollars saved, all models.
    pub total_cost_saved_usd: CostSaved,
    /// Health alerts firing now.
    pub alerts: Vec<crate::alerts::FiringAlert>,
}

/// Dollars saved, by what saved them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CostSaved {
    /// Calls answered from the response cache, at what the original call cost.
    pub response_cache: f64,
    /// Prompt tokens the provider served from its cache, at their discount.
    pub prompt_cache: f64,
}

/// One model's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelSnapshot {
    /// Calls that ended.
    pub calls: u64,
    /// Input plus output tokens billed.
    pub tokens: u64,
    /// Tokens billed, by kind (`cache_read`, `cache_write` are parts of
    /// `input`; `reasoning` is part of `output`).
    pub tokens_by_kind: TokensByKind,
    /// Tokens of answers served from the response cache (not billed again).
    pub tokens_saved: TokensByKind,
    /// Median latency until the body ended, ms.
    pub latency_p50: f64,
    /// 95th percentile latency, ms.
    pub latency_p95: f64,
    /// 99th percentile latency, ms.
    pub latency_p99: f64,
    /// Mean latency, ms.
    pub latency_avg: f64,
    /// Median time to first chunk of streamed calls, ms.
    pub ttfc_p50: f64,
    /// 95th percentile time to first chunk, ms.
    pub ttfc_p95: f64,
    /// Dollars spent (priced models only).
    pub cost_usd: f64,
    /// Dollars saved by the response cache and the provider's prompt cache.
    pub cost_saved_usd: CostSaved,
    /// Calls with usage whose model has no price (counted, never guessed).
    pub unpriced_calls: u64,
}

/// Token counts by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TokensByKind {
    /// All prompt tokens.
    pub input: u64,
    /// All generated tokens.
    pub output: u64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cache_read: u64,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_write: u64,
    /// Generated tokens spent on reasoning.
    pub reasoning: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_a_known_distribution_within_histogram_precision() {
        let mut stats = ModelStats::default();
        // 1..=1000 ms, once each.
        for ms in 1..=1000u64 {
            stats.call(
                Duration::from_millis(ms),
                Some(Duration::from_millis(ms / 10 + 1)),
                None,
            );
        }
        let snapshot = stats.snapshot();
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(
            close(snapshot.latency_p50, 500.0),
            "{}",
            snapshot.latency_p50
        );
        assert!(
            close(snapshot.latency_p95, 950.0),
            "{}",
            snapshot.latency_p95
        );
        assert!(
            close(snapshot.latency_p99, 990.0),
            "{}",
            snapshot.latency_p99
        );
        assert!(
            close(snapshot.latency_avg, 500.5),
            "{}",
            snapshot.latency_avg
        );
        assert!(close(snapshot.ttfc_p50, 51.0), "{}", snapshot.ttfc_p50);
        assert_eq!(snapshot.calls, 1000);
    }
}
