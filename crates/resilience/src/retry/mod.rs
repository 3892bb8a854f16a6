//! [`RetryLayer`]: tries a call again when its provider says to, or when
//! its connection failed, within bounds.
//!
//! - **Retried**: 408, 409, 429, 500, 502, 503, 504 and 529; connection
//!   failures and timeouts before the answer's head; an answer whose body
//!   fails before its first byte reached the caller (the first-chunk gate:
//!   a successful answer is held until its first byte arrives), or whose
//!   upstream went silent before it so that an [`crate::UpstreamTimeoutLayer`]
//!   below ended it ([`crate::SilentUpstream`]).
//! - **Never retried**: a 429 saying `insufficient_quota` (no wait cures
//!   it: the caller gets it at once), any other 4xx, an answer that has
//!   begun to reach the caller, an open circuit breaker's answer
//!   or a spent quota's answer, a request whose body was too large to keep.
//! - **Waits**: the provider's `retry-after-ms`, `retry-after` (seconds or
//!   an HTTP date), or on a 429 OpenAI's `x-ratelimit-reset-requests` /
//!   `-tokens`; else exponential backoff with full jitter.
//! - **Bounds** ([`RetryPolicy`]): 3 attempts in all, 30 s of waiting in
//!   all (a `retry-after` longer than what is left returns the answer at
//!   once), and a retry budget (tower's `TpsBudget`: 20 % of recent calls
//!   plus 10 a second) so that retries cannot multiply the load during an
//!   outage.
//! - Each attempt sends exactly the bytes the layers above prepared (a
//!   rewritten body stays rewritten), and the answer carries
//!   `x-llm-attempts`.
//! - Metrics: `llm_call_attempts` (attempts per call),
//!   `llm_retries_total{reason}`, `llm_retry_wait_seconds`,
//!   `llm_retries_given_up_total{why}` (`attempts`, `wait`, `budget`).
//!
//! ```
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use llm_layers_connector::HyperConnector;
//! use llm_layers_core::body::ReplayBody;
//! use llm_layers_mock::{MockConfig, MockServer};
//! use llm_layers_resilience::{RetryLayer, RetryPolicy};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default()).await.unwrap();
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default().base_delay(Duration::from_millis(10))))
//!     .service(HyperConnector::builder().build::<ReplayBody<Full<Bytes>>>().unwrap());
//! // The mock fails this body's first two requests with a 503.
//! let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
//!     .header("x-mock-fault", "503")
//!     .header("x-mock-fault-times", "2")
//!     .body(Full::new(Bytes::from_static(br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#)))
//!     .unwrap();
//! let response = client.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["x-llm-attempts"], "3");
//! # });
//! ```

mod again;
mod body;
mod layer;
mod policy;
mod service;
mod verdict;
mod wait_hint;

pub use body::RetryBody;
pub use layer::RetryLayer;
pub use policy::RetryPolicy;
pub use service::{ResponseFuture, Retry};
pub use verdict::RetryReason;
pub use wait_hint::{go_duration, wait_hint};

/// The response header telling how many attempts the answer took.
pub const ATTEMPTS_HEADER: &str = "x-llm-attempts";
