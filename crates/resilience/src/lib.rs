//! Resilience layers for LLM API calls.
//!
//! - [`timeout`]: [`UpstreamTimeoutLayer`], time to the response head,
//!   idle time between body chunks, and total duration, each ending the
//!   call with an error in the provider's own shape.
//!
//! Retry, the circuit breaker and rate-limit awareness arrive here too.
#![warn(missing_docs)]

pub mod timeout;

pub use timeout::{
    TimedOut, TimeoutBody, TimeoutPhase, UpstreamTimeout, UpstreamTimeoutLayer, UpstreamTimeouts,
};
