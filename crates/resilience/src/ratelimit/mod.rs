//! [`RateLimitLayer`]: does not send a call into a certain 429.
//!
//! Every answer's rate-limit headers (OpenAI's `x-ratelimit-remaining-*` /
//! `x-ratelimit-reset-*`, Anthropic's `anthropic-ratelimit-*`) are read per
//! credential partition and model. When one says a remaining count is
//! zero, the next calls for that partition and model wait for the reset
//! (in a bounded queue, up to a bounded time: [`RateLimitPolicy`]) or,
//! beyond those bounds or with [`WhenSpent::FailFast`], are answered at
//! once with a 429 in the provider's shape, `retry-after` at the reset and
//! `x-llm-rate-limit: spent`, without reaching the provider. Other keys
//! and models are not held. A retry layer above does not retry that 429.
//! Metrics: `llm_rate_limit_held_total{outcome}` (`waited`, `refused`).
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_connector::HyperConnector;
//! use llm_layers_core::body::ReplayBody;
//! use llm_layers_mock::{MockConfig, MockServer};
//! use llm_layers_resilience::{RateLimitLayer, RateLimitPolicy, WhenSpent};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default()).await.unwrap();
//! let client = ServiceBuilder::new()
//!     .layer(RateLimitLayer::new(RateLimitPolicy::default().when_spent(WhenSpent::FailFast)))
//!     .service(HyperConnector::builder().build::<ReplayBody<Full<Bytes>>>().unwrap());
//! let call = |spend: bool| {
//!     let mut request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
//!         .header("authorization", "Bearer sk-doc");
//!     if spend {
//!         // The mock answers that this was the last request of the minute.
//!         request = request.header("x-mock-remaining-requests", "0");
//!     }
//!     let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
//!     request.body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap()
//! };
//! let last = client.clone().oneshot(call(true)).await.unwrap();
//! assert_eq!(last.status(), 200);
//! last.into_body().collect().await.unwrap();
//! let held = client.clone().oneshot(call(false)).await.unwrap();
//! assert_eq!(held.status(), 429);
//! assert_eq!(held.headers()["x-llm-rate-limit"], "spent");
//! assert_eq!(mock.stats().requests_total, 1, "the provider never saw it");
//! # });
//! ```

mod layer;
mod policy;
mod quota;
mod registry;
mod service;

pub use layer::RateLimitLayer;
pub use policy::{RateLimitPolicy, WhenSpent};
pub use quota::spent_for;
pub use service::{RateLimit, RateLimitBody, ResponseFuture};

/// The response header on a call refused because its quota is spent.
pub const RATE_LIMIT_HEADER: &str = "x-llm-rate-limit";
