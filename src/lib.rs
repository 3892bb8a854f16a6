//! llm-layers: Tower middleware that makes LLM API calls cheaper, faster
//! and observable for any Rust HTTP client.
//!
//! This umbrella crate re-exports the workspace's crates and composes them:
//! [`LlmStack`] builds the layers in their documented order (see [`stack`]).
//!
//!
//! - [`core`]: provider knowledge shared by every layer: request facts and
//!   the canonical key, usage extraction, the SSE parser, body taps.
//! - [`connector`]: `HyperConnector`, the pooled TLS client at the bottom of
//!   the stack, which reports connections opened and reused.
//! - [`cache`]: `CacheLayer`, a response cache for LLM calls, streams
//!   included, with single flight, a memory and a disk store.
//! - [`metrics`]: `MetricsLayer`, calls, latency, time to first chunk,
//!   tokens, errors and cache outcomes per model.
//! - [`prefix`]: `PromptPrefixLayer`, which rewrites requests so their
//!   static part forms a byte-stable prefix provider prompt caches hit,
//!   and measures the hits.
//! - [`resilience`]: `UpstreamTimeoutLayer`, time to the head, idle time
//!   between chunks and total duration, answered in the provider's shape.
//!
//! ```
//! use bytes::Bytes;
//! use llm_layers::core::{ApiKind, RequestFacts};
//!
//! let (parts, ()) = http::Request::post("/v1/messages").body(()).unwrap().into_parts();
//! let body = Bytes::from_static(br#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[]}"#);
//! let facts = RequestFacts::from_parts(&parts, body);
//! assert_eq!(facts.kind(), ApiKind::AnthropicMessages);
//! ```
#![warn(missing_docs)]

#[cfg(feature = "batch")]
pub use llm_layers_batch as batch;
#[cfg(feature = "cache")]
pub use llm_layers_cache as cache;
#[cfg(feature = "connector")]
pub use llm_layers_connector as connector;
pub use llm_layers_core as core;
#[cfg(feature = "metrics")]
pub use llm_layers_metrics as metrics;
#[cfg(feature = "prefix")]
pub use llm_layers_prefix as prefix;
#[cfg(feature = "resilience")]
pub use llm_layers_resilience as resilience;

#[cfg(feature = "async-openai")]
pub mod async_openai;
#[cfg(any(feature = "async-openai", feature = "reqwest-middleware"))]
mod reqwest_bridge;
#[cfg(feature = "reqwest-middleware")]
pub mod reqwest_middleware;
pub mod stack;
pub use stack::{LlmServiceBuilderExt, LlmStack, StackBody, StackService};

/// The README's Rust blocks, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
