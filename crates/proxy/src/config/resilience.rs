//! `[retry]`, `[rate_limit]` and `[breaker]`: the resilience layers, on by
//! default.

use std::time::Duration;

use llm_layers::resilience::{BreakerPolicy, RateLimitPolicy, RetryPolicy, WhenSpent};
use serde::Deserialize;

/// `[retry]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetrySection {
    /// Default true.
    pub enabled: bool,
    /// Attempts in all, the first included. Default 3.
    pub max_attempts: u32,
    /// Waiting between attempts, in all. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub max_total_wait: Duration,
    /// The backoff's first ceiling. Default `500ms`.
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// The backoff's highest ceiling. Default `8s`.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Retries allowed as a share of recent calls. Default 0.2.
    pub budget_ratio: f32,
    /// Retries allowed a second whatever the share. Default 10.
    pub budget_min_per_second: u32,
    /// How long a call counts toward the budget. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub budget_window: Duration,
    /// Hold an answer until its first byte, so a body failing before it is
    /// retried. Default true.
    pub first_chunk_gate: bool,
    /// Largest error body read to decide on a retry. Default 65536.
    pub max_error_body_bytes: usize,
}

impl Default for RetrySection {
    fn default() -> Self {
        let policy = RetryPolicy::default();
        RetrySection {
            enabled: true,
            max_attempts: policy.max_attempts,
            max_total_wait: policy.max_total_wait,
            base_delay: policy.base_delay,
            max_delay: policy.max_delay,
            budget_ratio: policy.budget_ratio,
            budget_min_per_second: policy.budget_min_per_second,
            budget_window: policy.budget_window,
            first_chunk_gate: policy.first_chunk_gate,
            max_error_body_bytes: policy.max_error_body_bytes,
        }
    }
}

llm_layers::core::config_setters!(RetrySection {
    enabled: bool,
    max_attempts: u32,
    max_total_wait: Duration,
    base_delay: Duration,
    max_delay: Duration,
    budget_ratio: f32,
    budget_min_per_second: u32,
    budget_window: Duration,
    first_chunk_gate: bool,
    max_error_body_bytes: usize,
});

impl RetrySection {
    /// The retry policy this section describes.
    pub fn policy(&self, max_request_bytes: usize) -> RetryPolicy {
        RetryPolicy::default()
            .max_attempts(self.max_attempts)
            .max_total_wait(self.max_total_wait)
            .base_delay(self.base_delay)
            .max_delay(self.max_delay)
            .budget_ratio(self.budget_ratio)
            .budget_min_per_second(self.budget_min_per_second)
            .budget_window(self.budget_window)
            .first_chunk_gate(self.first_chunk_gate)
            .max_error_body_bytes(self.max_error_body_bytes)
            .max_request_bytes(max_request_bytes)
    }
}

/// `[breaker]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BreakerSection {
    /// Default true.
    pub enabled: bool,
    /// The share of failed calls that opens a breaker. Default 0.5.
    pub failure_ratio: f64,
    /// Calls a window must hold before the share counts. Default 20.
    pub min_calls: u32,
    /// The sliding window. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long a breaker stays open. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub cool_down: Duration,
    /// Probes admitted while half-open. Default 3.
    pub half_open_probes: u32,
    /// Breakers kept (origin and model pairs). Default 256.
    pub max_breakers: usize,
}

impl Default for BreakerSection {
    fn default() -> Self {
        let policy = BreakerPolicy::default();
        BreakerSection {
            enabled: true,
            failure_ratio: policy.failure_ratio,
            min_calls: policy.min_calls,
            window: policy.window,
            cool_down: policy.cool_down,
            half_open_probes: policy.half_open_probes,
            max_breakers: policy.max_breakers,
        }
    }
}

llm_layers::core::config_setters!(BreakerSection {
    enabled: bool,
    failure_ratio: f64,
    min_calls: u32,
    window: Duration,
    cool_down: Duration,
    half_open_probes: u32,
    max_breakers: usize,
});

impl BreakerSection {
    /// The breaker policy this section describes.
    pub fn policy(&self, max_request_bytes: usize) -> BreakerPolicy {
        BreakerPolicy::default()
            .failure_ratio(self.failure_ratio)
            .min_calls(self.min_calls)
            .window(self.window)
            .cool_down(self.cool_down)
            .half_open_probes(self.half_open_probes)
            .max_breakers(self.max_breakers)
            .max_request_bytes(max_request_bytes)
    }
}

/// What a call does when its key and model have spent their quota.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpentQuota {
    /// Wait for the reset (bounded). The default.
    #[default]
    Wait,
    /// A 429 at once.
    FailFast,
}

/// `[rate_limit]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitSection {
    /// Default true.
    pub enabled: bool,
    /// `wait` (default) or `fail_fast`.
    pub when_spent: SpentQuota,
    /// The longest a call waits for a reset. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Calls waiting at once per key and model. Default 64.
    pub max_waiting: usize,
    /// Keys and models remembered. Default 4096.
    pub max_partitions: usize,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        let policy = RateLimitPolicy::default();
        RateLimitSection {
            enabled: true,
            when_spent: SpentQuota::Wait,
            max_wait: policy.max_wait,
            max_waiting: policy.max_waiting,
            max_partitions: policy.max_partitions,
        }
    }
}

llm_layers::core::config_setters!(RateLimitSection {
    enabled: bool,
    when_spent: SpentQuota,
    max_wait: Duration,
    max_waiting: usize,
    max_partitions: usize,
});

impl RateLimitSection {
    /// The rate-limit policy this section describes.
    pub fn policy(&self, max_request_bytes: usize) -> RateLimitPolicy {
        let when_spent = match self.when_spent {
            SpentQuota::Wait => WhenSpent::Wait,
            SpentQuota::FailFast => WhenSpent::FailFast,
        };
        RateLimitPolicy::default()
            .when_spent(when_spent)
            .max_wait(self.max_wait)
            .max_waiting(self.max_waiting)
            .max_partitions(self.max_partitions)
            .max_request_bytes(max_request_bytes)
    }
}
