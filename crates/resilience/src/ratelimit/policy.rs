//! What a call does when its partition's quota is spent.

use std::time::Duration;

/// When a call's credential partition and model have spent their quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenSpent {
    /// Wait for the reset, if it comes within `max_wait` and the queue has
    /// room; else answer 429 at once. The default.
    #[default]
    Wait,
    /// Answer 429 at once, with `retry-after` set to the reset.
    FailFast,
}

/// Settings of a [`super::RateLimitLayer`]. Defaults: wait up to 10 s, at
/// most 64 calls waiting per partition and model.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RateLimitPolicy {
    /// Wait or fail fast.
    pub when_spent: WhenSpent,
    /// The longest a call waits for a reset; a later reset is a 429 at once.
    pub max_wait: Duration,
    /// Calls waiting at once per partition and model; beyond, a 429.
    pub max_waiting: usize,
    /// Partitions and models remembered; beyond, the expired are forgotten
    /// first, then new ones are not held.
    pub max_partitions: usize,
    /// Largest request body buffered to learn the model when no earlier
    /// layer did. Default 32 MiB. Applies to the layer used alone: in an
    /// `LlmStack`, the stack's one limit applies instead.
    pub max_request_bytes: usize,
}

impl Default for RateLimitPolicy {
    fn default() -> Self {
        RateLimitPolicy {
            when_spent: WhenSpent::Wait,
            max_wait: Duration::from_secs(10),
            max_waiting: 64,
            max_partitions: 4096,
            max_request_bytes: 32 << 20,
        }
    }
}

llm_layers_core::config_setters!(RateLimitPolicy {
    when_spent: WhenSpent,
    max_wait: Duration,
    max_waiting: usize,
    max_partitions: usize,
    max_request_bytes: usize,
});
