//! `PromptPrefixLayer`: turns cache-hostile LLM requests into provider
//! prompt-cache hits, and measures the hits.
//!
//! Providers discount a prompt's prefix when it is byte-identical to a
//! recent one. Applications break that without noticing: a timestamp at the
//! top of the system prompt, tool schemas serialised in a different key
//! order each time, no Anthropic breakpoints. On the way out this layer:
//!
//! 1. sorts the keys of tool definitions and schemas recursively (tool
//!    order is kept unless [`PrefixConfig::reorder_tools`]);
//! 2. moves volatile system text behind the static part: spans between
//!    markers (`<dynamic>…</dynamic>`), lines holding a date, time or UUID,
//!    custom regexes, or everything but the [`StaticContent`] the
//!    application names ([`volatile`] has the rules);
//! 3. places Anthropic `cache_control` breakpoints (end of tools, end of
//!    the static system, last message before the newest) where the prefix
//!    reaches the model's minimum ([`MinimumTable`]), never more than four
//!    counting the caller's own;
//! 4. sets OpenAI's `prompt_cache_key` from the static prefix's fingerprint.
//!
//! Every rewrite keeps what the model is asked; a request the layer does
//! not understand, or does not need to change, is forwarded byte for byte,
//! and so is one whose whole body is too short for any prefix of it to
//! reach the provider's minimum (no provider caches it; see
//! [`PrefixConfig::rewrite_short_requests`]).
//! The rewrite starts from the core's request facts (the body's JSON is
//! parsed once, shared with other layers) and corrects `Content-Length`.
//!
//! On the way back the response's usage is credited to the request's
//! static prefix: [`PrefixStats`] per fingerprint and model (requests,
//! input, cached and cache-write tokens, hit ratio), the same through the
//! `metrics` facade ([`stats`] lists the names), and a warning when a
//! prefix is below the provider's minimum. Each response carries the
//! request's [`PrefixReport`] in its extensions.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_prefix::{PrefixReport, PromptPrefixLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // A stand-in upstream that answers with the body it received.
//! let upstream = service_fn(|request: http::Request<_>| async move {
//!     let sent = BodyExt::collect(request.into_body()).await?.to_bytes();
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(http::Response::new(Full::new(sent)))
//! });
//! let layer = PromptPrefixLayer::default();
//! let service = ServiceBuilder::new().layer(layer.clone()).service(upstream);
//!
//! // A system prompt long enough for OpenAI's cache (1,024 tokens).
//! let rules = "Answer in the house style, and cite the policy you apply. ".repeat(80);
//! let body = serde_json::json!({"model": "gpt-4o", "messages": [
//!     {"role": "system", "content": format!("Now: 2026-11-23T14:09:06Z\nYou are a careful agent. {rules}")},
//!     {"role": "user", "content": "Plan my day."}]});
//! let request = http::Request::post("https://api.openai.com/v1/chat/completions")
//!     .body(Full::new(Bytes::from(body.to_string())))
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.extensions().get::<PrefixReport>().unwrap().rewrites.moved_volatile, 1);
//!
//! let sent: serde_json::Value =
//!     serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
//! assert_eq!(sent["messages"][0]["content"], format!("You are a careful agent. {rules}"));
//! assert_eq!(sent["messages"][1]["content"], "Now: 2026-11-23T14:09:06Z");
//! assert!(sent["prompt_cache_key"].as_str().unwrap().starts_with("llm-layers-"));
//! assert_eq!(layer.stats().snapshot()[0].requests, 1);
//! # });
//! ```
#![warn(missing_docs)]

mod anthropic;
mod config;
pub mod diagnosis;
mod estimate;
mod gemini;
mod layer;
mod minimum;
mod observer;
mod openai;
mod ratio_alert;
mod report;
mod rewrite;
mod service;
mod stable;
pub mod stats;
pub mod volatile;

pub use anthropic::MAX_BREAKPOINTS;
pub use config::{BreakpointTtl, PrefixConfig};
pub use diagnosis::MissReport;
pub use estimate::{BytesPerToken, TokenEstimator, BYTES_PER_TOKEN};
#[cfg(feature = "tiktoken")]
pub use estimate::{TiktokenEstimator, TokenizerError};
pub use layer::PromptPrefixLayer;
pub use minimum::MinimumTable;
pub use ratio_alert::{CacheRatioAlert, PrefixAlert};
pub use report::{PrefixFingerprint, PrefixReport, Rewrites, StaticContent};
pub use rewrite::Rewritten;
pub use service::{PromptPrefix, ResponseBody, ResponseFuture};
pub use stats::{PrefixRow, PrefixStats};
pub use volatile::Markers;
