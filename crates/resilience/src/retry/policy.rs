//! How the retry layer retries; every bound with its default.

use std::time::Duration;

/// Settings of a [`super::RetryLayer`]. Defaults: 3 attempts in all, at
/// most 30 s of waiting, backoff from 500 ms doubling up to 8 s with full
/// jitter, a budget of 20 % retries over 10 s on top of 10 a second, the
/// first-chunk gate on.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included. `1` turns retrying off.
    pub max_attempts: u32,
    /// The most a call may wait between its attempts, in sum. A provider's
    /// `retry-after` longer than what is left returns its answer at once.
    pub max_total_wait: Duration,
    /// The backoff's first ceiling; each retry doubles it.
    pub base_delay: Duration,
    /// The backoff's highest ceiling.
    pub max_delay: Duration,
    /// Retries allowed, as a share of recent calls (tower's `TpsBudget`):
    /// during an outage retries cannot multiply the load.
    pub budget_ratio: f32,
    /// Retries allowed a second whatever the share.
    pub budget_min_per_second: u32,
    /// How long a call counts toward the budget.
    pub budget_window: Duration,
    /// Hold a successful answer until its first body byte has arrived, so
    /// that a stream failing before it is retried. Default on.
    pub first_chunk_gate: bool,
    /// Largest error body read to decide on a retry (a 429's kind); a
    /// larger one is passed on untouched. Default 64 KiB.
    pub max_error_body_bytes: usize,
    /// Largest request body buffered to be sent again when no earlier
    /// layer buffered it; larger requests are sent once. Default 32 MiB.
    /// Applies to the layer used alone: in an `LlmStack`, the stack's one
    /// limit applies instead.
    pub max_request_bytes: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            max_total_wait: Duration::from_secs(30),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            budget_ratio: 0.2,
            budget_min_per_second: 10,
            budget_window: Duration::from_secs(10),
            first_chunk_gate: true,
            max_error_body_bytes: 64 << 10,
            max_request_bytes: 32 << 20,
        }
    }
}

llm_layers_core::config_setters!(RetryPolicy {
    max_attempts: u32,
    max_total_wait: Duration,
    base_delay: Duration,
    max_delay: Duration,
    budget_ratio: f32,
    budget_min_per_second: u32,
    budget_window: Duration,
    first_chunk_gate: bool,
    max_error_body_bytes: usize,
    max_request_bytes: usize,
});

impl RetryPolicy {
    /// The backoff before retry number `retry` (1 for the first): a
    /// uniform draw (`unit` in `[0, 1)`) below the ceiling, which doubles
    /// from `base_delay` up to `max_delay` ("full jitter").
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_ceiling_with_full_jitter() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 0.999_999).as_millis(), 499);
        assert_eq!(policy.backoff(2, 0.5), Duration::from_millis(500));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(policy.backoff(10, 1.0), Duration::from_secs(8));
        assert_eq!(policy.backoff(u32::MAX, 1.0), Duration::from_secs(8));
        assert_eq!(policy.backoff(1, 0.0), Duration::ZERO);
    }
}
