//! Gemini's usage (`usageMetadata`), from a plain body, a JSON array of
//! chunks, or an SSE stream, which has no end event: its last chunk
//! carries the candidate's `finishReason`.

use serde::Deserialize;

use super::tracker::{starts_with_error_member, UsageTracker, GEMINI_FINISH};
use super::{StreamCompletion, Usage};
use crate::sse::SseEvent;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GeminiResponse {
    pub(super) model_version: Option<String>,
    pub(super) usage_metadata: Option<GeminiUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GeminiUsage {
    #[serde(default)]
    pub(super) prompt_token_count: u64,
    #[serde(default)]
    pub(super) candidates_token_count: u64,
    #[serde(default)]
    pub(super) cached_content_token_count: u64,
    #[serde(default)]
    pub(super) thoughts_token_count: u64,
}

impl GeminiResponse {
    pub(super) fn into_usage(self) -> Option<Usage> {
        let usage = self.usage_metadata?;
        Some(Usage {
            input_tokens: usage.prompt_token_count,
            output_tokens: usage.candidates_token_count + usage.thoughts_token_count,
            cache_read_tokens: usage.cached_content_token_count,
            cache_write_tokens: 0,
            reasoning_tokens: usage.thoughts_token_count,
            model: self.model_version,
        })
    }
}

/// A Gemini response object, or the JSON array of chunks that
/// `streamGenerateContent` returns without `alt=sse` (the last usage wins).
pub(super) fn gemini_from_json(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(GeminiResponse),
        Many(Vec<GeminiResponse>),
    }
    match serde_json::from_slice::<OneOrMany>(body).ok()? {
        OneOrMany::One(response) => response.into_usage(),
        OneOrMany::Many(chunks) => chunks
            .into_iter()
            .rev()
            .find_map(GeminiResponse::into_usage),
    }
}

impl UsageTracker {
    pub(super) fn observe_gemini(&mut self, event: &SseEvent) {
        let data = event.data.as_bytes();
        if let Some(usage) = gemini_from_json(data) {
            self.usage = Some(usage);
        }
        if GEMINI_FINISH.find(data).is_some() {
            self.settle(StreamCompletion::Completed);
        }
        if starts_with_error_member(data) {
            self.settle(StreamCompletion::Failed);
        }
    }
}
