//! Resilience layers for LLM API calls.
//!
//! - [`timeout`]: [`UpstreamTimeoutLayer`], time to the response head,
//!   idle time between body chunks, and total duration, each ending the
//!   call with an error in the provider's own shape.
//! - [`retry`]: [`RetryLayer`], another attempt when the provider says to
//!   or the connection failed, within attempts, wait and budget bounds.
//! - [`breaker`]: [`CircuitBreakerLayer`], one breaker per upstream origin
//!   and model, answering at once while its upstream keeps failing.
//! - [`ratelimit`]: [`RateLimitLayer`], which holds or refuses calls for a
//!   key and model whose provider quota is spent, until its reset.
#![warn(missing_docs)]

mod boxed;
pub mod breaker;
mod call_facts;
pub mod ratelimit;
mod refused;
pub mod retry;
#[cfg(test)]
mod test_support;
pub mod timeout;

pub use breaker::{
    BreakerPolicy, BreakerSnapshot, CircuitBreaker, CircuitBreakerLayer, CircuitState,
};
pub use ratelimit::{RateLimit, RateLimitLayer, RateLimitPolicy, WhenSpent};
pub use retry::{Retry, RetryBody, RetryLayer, RetryPolicy, RetryReason};
pub use timeout::{
    SilentUpstream, TimedOut, TimeoutBody, TimeoutPhase, UpstreamTimeout, UpstreamTimeoutLayer,
    UpstreamTimeouts,
};
