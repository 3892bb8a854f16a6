//! The fast path for a plain body's usage: only the top-level `usage` (and
//! `model`) members are read, the generated text in between is skipped;
//! and the full parse it falls back to.

use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::anthropic::{AnthropicMessage, AnthropicUsage};
use super::counts::{read_token_counts, TokenCounts};
use super::gemini::gemini_from_json;
use super::openai::{
    CachedDetails, OpenAiChatResponse, OpenAiChatUsage, OpenAiResponse, ReasoningDetails,
    ResponsesUsage,
};
use super::Usage;
use crate::api::ApiKind;
use crate::json::member::{top_level_member_with, top_level_string};
use crate::json::scan::Member;

static USAGE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static MODEL_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\""));

/// The kinds whose usage is a top-level `usage` object [`read_token_counts`] reads.
fn has_usage_member(kind: ApiKind) -> bool {
    matches!(
        kind,
        ApiKind::OpenAiChat
            | ApiKind::OpenAiCompletions
            | ApiKind::OpenAiEmbeddings
            | ApiKind::OpenAiResponses
            | ApiKind::AnthropicMessages
    )
}

/// The fast path: read only the top-level `usage` (and `model`) members.
pub(super) fn usage_from_members(kind: ApiKind, body: &[u8], with_model: bool) -> Option<Usage> {
    if !has_usage_member(kind) {
        return None;
    }
    let counts = top_level_member_with(body, &USAGE_KEY, read_token_counts)?;
    // A model that cannot be located for sure sends the body to the full parse.
    let model = if !with_model {
        None
    } else {
        match top_level_string(body, &MODEL_KEY) {
            Some(model) => Some(model),
            None if MODEL_KEY.find(body).is_some() => return None,
            None => None,
        }
    };
    Some(usage_of_counts(kind, counts, model))
}

/// The token counts (model `None`) of a body already validated, whose
/// top-level `usage` member was located by the validating scan: what
/// [`super::token_usage_from_json`] reads, without reading the body again.
pub(crate) fn token_usage_of_member(kind: ApiKind, body: &[u8], usage: Member) -> Option<Usage> {
    let read = match (has_usage_member(kind), usage) {
        (true, Member::At(value)) => {
            read_token_counts(&body[value..]).map(|(counts, _)| usage_of_counts(kind, counts, None))
        }
        // No top-level `usage`: the full parse finds none either.
        (true, Member::Absent) => return None,
        _ => None,
    };
    read.or_else(|| super::token_usage_from_json(kind, body))
}

fn usage_of_counts(kind: ApiKind, counts: TokenCounts, model: Option<String>) -> Usage {
    match kind {
        ApiKind::OpenAiResponses => ResponsesUsage {
            input_tokens: counts.input_tokens.unwrap_or(0),
            output_tokens: counts.output_tokens.unwrap_or(0),
            input_tokens_details: counts.input_details.then_some(CachedDetails {
                cached_tokens: counts.input_cached_tokens.unwrap_or(0),
            }),
            output_tokens_details: counts.output_details.then_some(ReasoningDetails {
                reasoning_tokens: counts.output_reasoning_tokens.unwrap_or(0),
            }),
        }
        .into_usage(model),
        ApiKind::AnthropicMessages => AnthropicUsage {
            input_tokens: counts.input_tokens,
            output_tokens: counts.output_tokens,
            cache_creation_input_tokens: counts.cache_creation_input_tokens,
            cache_read_input_tokens: counts.cache_read_input_tokens,
        }
        .into_usage(model),
        _ => OpenAiChatUsage {
            prompt_tokens: counts.prompt_tokens.unwrap_or(0),
            completion_tokens: counts.completion_tokens.unwrap_or(0),
            prompt_tokens_details: counts.prompt_details.then_some(CachedDetails {
                cached_tokens: counts.prompt_cached_tokens.unwrap_or(0),
            }),
            completion_tokens_details: counts.completion_details.then_some(ReasoningDetails {
                reasoning_tokens: counts.completion_reasoning_tokens.unwrap_or(0),
            }),
        }
        .into_usage(model),
    }
}

/// Usage by parsing the whole body.
pub(crate) fn usage_from_full_parse(kind: ApiKind, body: &[u8]) -> Option<Usage> {
    match kind {
        ApiKind::OpenAiChat | ApiKind::OpenAiCompletions | ApiKind::OpenAiEmbeddings => {
            let response: OpenAiChatResponse = serde_json::from_slice(body).ok()?;
            Some(response.usage?.into_usage(response.model))
        }
        ApiKind::OpenAiResponses => {
            let response: OpenAiResponse = serde_json::from_slice(body).ok()?;
            Some(response.usage?.into_usage(response.model))
        }
        ApiKind::AnthropicMessages => {
            let response: AnthropicMessage = serde_json::from_slice(body).ok()?;
            Some(response.usage?.into_usage(response.model))
        }
        ApiKind::GeminiGenerateContent => gemini_from_json(body),
        ApiKind::Unknown => None,
    }
}
