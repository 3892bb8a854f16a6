//! Resilience layers for LLM API calls.
//!
//! - [`timeout`]: [`UpstreamTimeoutLayer`], time to the response head,
//!   idle time between body chunks, and total duration, each ending the
//!   call with an error in the provider's own shape.
//! - [`retry`]: [`RetryLayer`], another attempt when the provider says to
//!   or the connection failed, within attempts, wait and budget bounds.
//!
//! The circuit breaker and rate-limit awareness arrive here too.
#![warn(missing_docs)]

pub mod retry;
pub mod timeout;

pub use retry::{Retry, RetryBody, RetryLayer, RetryPolicy, RetryReason};
pub use timeout::{
    TimedOut, TimeoutBody, TimeoutPhase, UpstreamTimeout, UpstreamTimeoutLayer, UpstreamTimeouts,
};
