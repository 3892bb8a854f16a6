//! Provider knowledge shared by every llm-layers layer.
//!
//! - [`RequestFacts`]: the API kind, model, stream flag, body and canonical
//!   key of a request, worked out once and kept in its extensions.
//! - [`usage`]: token usage from JSON responses and SSE streams of OpenAI,
//!   Anthropic and Gemini, in one meaning for all.
//!   [`usage::ResponseUsage`] reads a response's usage as its body goes by,
//!   a stream parsed once for all layers.
//! - [`sse`]: an incremental Server-Sent Events parser.
//! - [`body`]: buffering a request body up to a limit without losing it,
//!   and a body wrapper that lets a layer watch a stream go by.
//! - [`facts`]: the request's facts and key, and the future every layer
//!   that needs them shares (facts, call, result).
//! - [`error`]: the transport failures every layer classifies by type.
//! - [`provider_error`]: errors a layer makes, shaped as the provider would.
//! - [`cache_status`]: the cache's decision, read by outer layers.
//! - [`completeness`]: whether an answer is whole, the rule for storing it.
//! - [`config_setters!`]: the builder methods of every layer's configuration.
//!
//! Layers depend on this crate, never on each other.
#![warn(missing_docs)]

pub mod answer_store;
pub mod api;
pub mod body;
pub mod cache_status;
pub mod completeness;
mod config_setters;
pub mod error;
pub mod facts;
pub mod hash_map;
mod json;
pub mod provider_error;
pub mod sse;
pub mod tokens;
pub mod usage;

/// What the crate's macros use; not part of its API.
#[doc(hidden)]
pub mod __private {
    pub use bytes::Bytes;
    pub use pin_project_lite::pin_project;
    pub use tower_service::Service;
    pub use {http, http_body};
}

pub use api::{ApiKind, Provider};
pub use cache_status::{CacheOutcome, CacheStatus};
pub use error::{find_upstream_error, UpstreamError};
pub use facts::{BodyDigest, CanonicalKey, CredentialFingerprint, KEY_FORMAT_VERSION};
pub use facts::{Opaque, RequestFacts};
pub use sse::{SseEvent, SseParser};
pub use usage::{PublishedUsage, StreamCompletion, TokenKind, Usage, UsageTracker};
