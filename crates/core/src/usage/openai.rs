//! OpenAI's usage: chat and legacy completions (`usage.prompt_tokens`…),
//! the Responses API (`usage.input_tokens`…), embeddings; plain bodies and
//! streams (`data: [DONE]`, `response.completed`).

use serde::Deserialize;

use super::tracker::{has_object_member, starts_with_error_member, UsageTracker, USAGE_MEMBER};
use super::{StreamCompletion, Usage};
use crate::sse::SseEvent;

#[derive(Deserialize)]
pub(super) struct OpenAiChatResponse {
    pub(super) model: Option<String>,
    pub(super) usage: Option<OpenAiChatUsage>,
    pub(super) error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
pub(super) struct OpenAiChatUsage {
    #[serde(default)]
    pub(super) prompt_tokens: u64,
    #[serde(default)]
    pub(super) completion_tokens: u64,
    pub(super) prompt_tokens_details: Option<CachedDetails>,
    pub(super) completion_tokens_details: Option<ReasoningDetails>,
}

#[derive(Deserialize)]
pub(super) struct CachedDetails {
    #[serde(default)]
    pub(super) cached_tokens: u64,
}

#[derive(Deserialize)]
pub(super) struct ReasoningDetails {
    #[serde(default)]
    pub(super) reasoning_tokens: u64,
}

impl OpenAiChatUsage {
    pub(super) fn into_usage(self, model: Option<String>) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cache_read_tokens: self.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            cache_write_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .map_or(0, |d| d.reasoning_tokens),
            model,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct OpenAiResponse {
    pub(super) model: Option<String>,
    pub(super) usage: Option<ResponsesUsage>,
}

#[derive(Deserialize)]
pub(super) struct ResponsesEvent {
    pub(super) response: Option<OpenAiResponse>,
}

#[derive(Deserialize)]
pub(super) struct ResponsesUsage {
    #[serde(default)]
    pub(super) input_tokens: u64,
    #[serde(default)]
    pub(super) output_tokens: u64,
    pub(super) input_tokens_details: Option<CachedDetails>,
    pub(super) output_tokens_details: Option<ReasoningDetails>,
}

impl ResponsesUsage {
    pub(super) fn into_usage(self, model: Option<String>) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.input_tokens_details.map_or(0, |d| d.cached_tokens),
            cache_write_tokens: 0,
            reasoning_tokens: self.output_tokens_details.map_or(0, |d| d.reasoning_tokens),
            model,
        }
    }
}

impl UsageTracker {
    pub(super) fn observe_openai_chat(&mut self, event: &SseEvent) {
        if event.is_done() {
            self.settle(StreamCompletion::Completed);
            return;
        }
        // Cheap checks first: most chunks carry neither usage nor an error
        // (OpenAI sends `"usage":null` in every chunk with include_usage).
        let data = event.data.as_bytes();
        if !has_object_member(data, &USAGE_MEMBER) && !starts_with_error_member(data) {
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<OpenAiChatResponse>(data) else {
            return;
        };
        if chunk.error.is_some() {
            self.settle(StreamCompletion::Failed);
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into_usage(chunk.model));
        }
    }

    pub(super) fn observe_openai_responses(&mut self, event: &SseEvent) {
        let name = event.event.as_deref().unwrap_or_default();
        let completion = match name {
            "response.completed" => StreamCompletion::Completed,
            "response.failed" | "response.incomplete" | "error" => StreamCompletion::Failed,
            _ => return,
        };
        self.settle(completion);
        if let Ok(envelope) = serde_json::from_str::<ResponsesEvent>(&event.data) {
            if let Some(response) = envelope.response {
                if let Some(usage) = response.usage {
                    self.usage = Some(usage.into_usage(response.model));
                }
            }
        }
    }
}
