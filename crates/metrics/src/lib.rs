//! `MetricsLayer`: calls, latency, time to first chunk, tokens, errors and
//! cache outcomes per model, through the [`metrics`] facade, plus an
//! in-process statistics snapshot.
//!
//! The layer reads the request facts an earlier layer stored (or works them
//! out itself, buffering the body once, up to a limit), watches the response
//! body as it streams past without delaying it, and records the call when
//! the body ends: the duration covers the whole stream, time to first chunk
//! is measured for SSE responses, and usage is read from the JSON body or
//! the SSE events. A response served by the cache layer (its
//! [`CacheStatus`](llm_layers_core::CacheStatus) says `hit`) counts its
//! tokens as saved, never as consumed. See [`names`] for every metric, label
//! and unit, and [`ErrorKind`] for the error kinds.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_metrics::{MetricsConfig, MetricsLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // Any inner service will do; here a stand-in for the provider.
//! let upstream = service_fn(|_request: http::Request<_>| async {
//!     let body = r#"{"model":"gpt-4o","usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(body))))
//! });
//! let layer = MetricsLayer::new(MetricsConfig::default());
//! let stats = layer.stats();
//! let service = ServiceBuilder::new().layer(layer.clone()).service(upstream);
//!
//! let request = http::Request::post("https://api.openai.com/v1/chat/completions")
//!     .body(Full::new(Bytes::from_static(br#"{"model":"gpt-4o","messages":[]}"#)))
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! response.into_body().collect().await.unwrap();
//!
//! let snapshot = stats.snapshot();
//! assert_eq!(snapshot.total_calls, 1);
//! assert_eq!(snapshot.by_model["gpt-4o"].tokens, 15);
//! # });
//! ```
#![warn(missing_docs)]

pub mod alerts;
mod classify;
mod config;
mod handles;
mod layer;
pub mod names;
mod observer;
pub mod prices;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod registry;
mod service;
mod stats;
pub mod stream_usage;

pub use alerts::{AlertConfig, AlertKind, Alerts, FiringAlert};
pub use classify::ErrorKind;
pub use config::MetricsConfig;
pub use layer::{MetricsLayer, MetricsStats};
pub use prices::{Cost, ModelPrice, PriceTable};
pub use registry::{OTHER_MODEL, UNKNOWN_MODEL};
pub use service::{Metrics, ResponseBody, ResponseFuture};
pub use stats::{CostSaved, ModelSnapshot, StatsSnapshot, TokensByKind};
pub use stream_usage::{StreamUsage, StreamUsageLayer};
