//! Token usage reported by providers, from JSON responses and SSE streams.
//!
//! Every provider counts differently; [`Usage`] holds one meaning for all:
//!
//! | field | OpenAI chat / completions | OpenAI responses | Anthropic | Gemini |
//! |---|---|---|---|---|
//! | `input_tokens` (all prompt tokens) | `prompt_tokens` | `input_tokens` | `input_tokens + cache_creation_input_tokens + cache_read_input_tokens` | `promptTokenCount` |
//! | `cache_read_tokens` | `prompt_tokens_details.cached_tokens` | `input_tokens_details.cached_tokens` | `cache_read_input_tokens` | `cachedContentTokenCount` |
//! | `cache_write_tokens` | 0 | 0 | `cache_creation_input_tokens` | 0 |
//! | `output_tokens` (reasoning included) | `completion_tokens` | `output_tokens` | `output_tokens` | `candidatesTokenCount + thoughtsTokenCount` |
//! | `reasoning_tokens` | `completion_tokens_details.reasoning_tokens` | `output_tokens_details.reasoning_tokens` | 0 | `thoughtsTokenCount` |
//!
//! Embeddings report `prompt_tokens` only.
//!
//! ```
//! use llm_layers_core::{usage::usage_from_json, ApiKind};
//!
//! let body = br#"{"model":"gpt-4o-2024-08-06","usage":{"prompt_tokens":2006,
//!   "completion_tokens":300,"prompt_tokens_details":{"cached_tokens":1920}}}"#;
//! let usage = usage_from_json(ApiKind::OpenAiChat, body).unwrap();
//! assert_eq!(usage.input_tokens, 2006);
//! assert_eq!(usage.cache_read_tokens, 1920);
//! assert_eq!(usage.uncached_input_tokens(), 86);
//! assert_eq!(usage.model.as_deref(), Some("gpt-4o-2024-08-06"));
//! ```

mod anthropic;
mod counts;
mod fast;
mod gemini;
mod openai;
mod reader;
#[cfg(test)]
mod tests;
mod tracker;

use serde::{Deserialize, Serialize};

use crate::api::ApiKind;
pub(crate) use fast::token_usage_of_member;
use fast::{usage_from_full_parse, usage_from_members};

pub use reader::{is_event_stream, ResponseUsage};
pub use tracker::UsageTracker;

/// Tokens one call consumed, in one meaning for every provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// All prompt tokens, including those read from or written to the
    /// provider's prompt cache.
    pub input_tokens: u64,
    /// All generated tokens, including reasoning tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache (Anthropic).
    pub cache_write_tokens: u64,
    /// Generated tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// The model the provider says answered.
    pub model: Option<String>,
}

/// The kinds a call's tokens are counted in, one order for every layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// [`Usage::input_tokens`].
    Input,
    /// [`Usage::output_tokens`].
    Output,
    /// [`Usage::cache_read_tokens`].
    CacheRead,
    /// [`Usage::cache_write_tokens`].
    CacheWrite,
    /// [`Usage::reasoning_tokens`].
    Reasoning,
}

impl TokenKind {
    /// Every kind, in order (see [`TokenKind::index`]).
    pub const ALL: [TokenKind; 5] = [
        TokenKind::Input,
        TokenKind::Output,
        TokenKind::CacheRead,
        TokenKind::CacheWrite,
        TokenKind::Reasoning,
    ];

    /// The metric label (`input`, `output`, `cache_read`, `cache_write`,
    /// `reasoning`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenKind::Input => "input",
            TokenKind::Output => "output",
            TokenKind::CacheRead => "cache_read",
            TokenKind::CacheWrite => "cache_write",
            TokenKind::Reasoning => "reasoning",
        }
    }

    /// This kind's place in [`TokenKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl Usage {
    /// The tokens of one kind.
    pub fn count(&self, kind: TokenKind) -> u64 {
        match kind {
            TokenKind::Input => self.input_tokens,
            TokenKind::Output => self.output_tokens,
            TokenKind::CacheRead => self.cache_read_tokens,
            TokenKind::CacheWrite => self.cache_write_tokens,
            TokenKind::Reasoning => self.reasoning_tokens,
        }
    }

    /// Prompt tokens billed at the full input price: neither read from nor
    /// written to the prompt cache.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }
}

/// Extracts usage from a complete (non-streamed) JSON response body.
/// `None` when the body is not JSON or carries no usage.
///
/// The top-level `usage` (and `model`) members are located without parsing
/// the generated text in between; a body
/// where that cannot be proven safe gets a full parse.
pub fn usage_from_json(kind: ApiKind, body: &[u8]) -> Option<Usage> {
    usage_from_members(kind, body, true).or_else(|| usage_from_full_parse(kind, body))
}

/// The token counts of [`usage_from_json`] without looking up the model the
/// provider reports (`model` is `None`): cheaper, for callers that label by
/// the model the request asked for.
pub fn token_usage_from_json(kind: ApiKind, body: &[u8]) -> Option<Usage> {
    usage_from_members(kind, body, false).or_else(|| {
        let mut usage = usage_from_full_parse(kind, body)?;
        usage.model = None;
        Some(usage)
    })
}

/// How a stream ended, as far as its events tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamCompletion {
    /// No terminal event yet.
    Open,
    /// The provider's normal terminal event arrived (`[DONE]`,
    /// `message_stop`, `response.completed`).
    Completed,
    /// The provider reported an error or an incomplete response in-stream.
    Failed,
}

/// A response's usage (and, for a stream, its completion), shared between
/// layers so that a body is parsed once: the layer that parses it puts this
/// in the response extensions and publishes its result when the body ends;
/// outer layers, which see the end after it, read the result instead of
/// parsing.
#[derive(Clone, Debug, Default)]
pub struct PublishedUsage(std::sync::Arc<std::sync::Mutex<Option<UsageTracker>>>);

impl PublishedUsage {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes the parsing layer's result.
    pub fn publish(&self, usage: &UsageTracker) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(usage.clone());
    }

    /// The published result, once the parsing layer has seen the end.
    pub fn get(&self) -> Option<UsageTracker> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
