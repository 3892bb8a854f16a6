//! When a circuit breaker opens and how it recovers; every bound with its
//! default.

use std::time::Duration;

/// Settings of a [`super::CircuitBreakerLayer`]. Defaults: open when at
/// least half of at least 20 calls in the last 30 s failed; stay open 30 s;
/// then admit 3 probes, and close when all of them succeed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerPolicy {
    /// The share of failed calls in the window that opens the breaker.
    pub failure_ratio: f64,
    /// Calls the window must hold before the ratio counts.
    pub min_calls: u32,
    /// The sliding window the ratio is taken over.
    pub window: Duration,
    /// How long the breaker stays open before it admits probes.
    pub cool_down: Duration,
    /// Probes admitted while half-open; all must succeed to close.
    pub half_open_probes: u32,
    /// Breakers kept (one per upstream origin and model); beyond, a new
    /// pair is not watched until a closed breaker is forgotten.
    pub max_breakers: usize,
    /// Largest request body buffered to learn the model when no earlier
    /// layer did; a larger request counts under model `unknown`. Default
    /// 32 MiB. Applies to the layer used alone: in an `LlmStack`, the
    /// stack's one limit applies instead.
    pub max_request_bytes: usize,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failure_ratio: 0.5,
            min_calls: 20,
            window: Duration::from_secs(30),
            cool_down: Duration::from_secs(30),
            half_open_probes: 3,
            max_breakers: 256,
            max_request_bytes: 32 << 20,
        }
    }
}

llm_layers_core::config_setters!(BreakerPolicy {
    failure_ratio: f64,
    min_calls: u32,
    window: Duration,
    cool_down: Duration,
    half_open_probes: u32,
    max_breakers: usize,
    max_request_bytes: usize,
});
