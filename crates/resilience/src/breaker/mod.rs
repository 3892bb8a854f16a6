//! [`CircuitBreakerLayer`]: stops sending calls to an upstream and model
//! that keep failing, and lets a few probes find out when it recovers.
//!
//! - One breaker per upstream origin and model (the model from the
//!   request's facts; `unknown` without them).
//! - **Opens** when the failures in a sliding window reach a share of its
//!   calls, once it holds enough of them ([`BreakerPolicy`]: 50 % of at
//!   least 20 calls in 30 s). Failures: 5xx (529 included), timeouts
//!   (a stream an [`crate::UpstreamTimeoutLayer`] below ended with its
//!   error event included), connection failures, bodies the upstream
//!   aborts. Not failures: 4xx, calls the caller gave up on.
//! - **While open** it answers at once, without the upstream: a 503 with
//!   `retry-after` (the cool-down left), `x-llm-circuit: open`, and a JSON
//!   error in the provider's own shape, so SDKs raise their usual error.
//!   A retry layer above does not retry it.
//! - **Half-open** after the cool-down (30 s): a few probes (3) go
//!   through; when they all succeed it closes, when one fails it opens
//!   again.
//! - Metrics: `llm_circuit_state{origin,model}` (0 closed, 1 half-open,
//!   2 open), `llm_circuit_transitions_total{origin,model,to}`,
//!   `llm_circuit_rejected_total{origin,model}`; [`CircuitBreakerLayer::snapshot`]
//!   for `/stats`.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use llm_layers_connector::HyperConnector;
//! use llm_layers_core::body::ReplayBody;
//! use llm_layers_mock::{Fault, MockConfig, MockServer};
//! use llm_layers_resilience::{BreakerPolicy, CircuitBreakerLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default().fault(Some(Fault::ServerError)))
//!     .await
//!     .unwrap();
//! let breaker = CircuitBreakerLayer::new(BreakerPolicy::default().min_calls(2));
//! let client = ServiceBuilder::new()
//!     .layer(breaker.clone())
//!     .service(HyperConnector::builder().build::<ReplayBody<Full<Bytes>>>().unwrap());
//! let call = || {
//!     http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
//!         .body(Full::new(Bytes::from_static(b"{}")))
//!         .unwrap()
//! };
//! for _ in 0..2 {
//!     assert_eq!(client.clone().oneshot(call()).await.unwrap().status(), 500);
//! }
//! let refused = client.clone().oneshot(call()).await.unwrap();
//! assert_eq!(refused.status(), 503);
//! assert_eq!(refused.headers()["x-llm-circuit"], "open");
//! assert_eq!(mock.stats().requests_total, 2, "the open breaker kept it from the upstream");
//! assert_eq!(breaker.snapshot()[0].state, "open");
//! # });
//! ```

mod body;
mod call;
mod layer;
mod policy;
mod registry;
mod service;
mod state;

pub use body::BreakerBody;
pub use layer::CircuitBreakerLayer;
pub use policy::BreakerPolicy;
pub use registry::BreakerSnapshot;
pub use service::{CircuitBreaker, ResponseFuture};
pub use state::CircuitState;

/// The response header an open circuit breaker's answer carries.
pub const CIRCUIT_HEADER: &str = "x-llm-circuit";
