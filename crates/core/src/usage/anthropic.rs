//! Anthropic's usage: `input_tokens`, `cache_creation_input_tokens`,
//! `cache_read_input_tokens`, `output_tokens`; in a stream, from
//! `message_start` and `message_delta`, ended by `message_stop`.

use serde::Deserialize;

use super::tracker::UsageTracker;
use super::{StreamCompletion, Usage};
use crate::sse::SseEvent;

#[derive(Deserialize)]
pub(super) struct AnthropicMessage {
    pub(super) model: Option<String>,
    pub(super) usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
pub(super) struct AnthropicStart {
    pub(super) message: AnthropicMessage,
}

#[derive(Deserialize)]
pub(super) struct AnthropicDelta {
    pub(super) usage: Option<AnthropicUsage>,
}

/// Anthropic's usage object; every field may be absent in a `message_delta`.
#[derive(Deserialize)]
pub(super) struct AnthropicUsage {
    pub(super) input_tokens: Option<u64>,
    pub(super) output_tokens: Option<u64>,
    pub(super) cache_creation_input_tokens: Option<u64>,
    pub(super) cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    pub(super) fn into_usage(self, model: Option<String>) -> Usage {
        let mut usage = Usage {
            model,
            ..Usage::default()
        };
        self.apply_cumulative(&mut usage);
        usage
    }

    /// Anthropic's counts are cumulative: a field present in a later event
    /// replaces the earlier value.
    pub(super) fn apply_cumulative(self, usage: &mut Usage) {
        let uncached = usage.uncached_input_tokens();
        let read = self
            .cache_read_input_tokens
            .unwrap_or(usage.cache_read_tokens);
        let write = self
            .cache_creation_input_tokens
            .unwrap_or(usage.cache_write_tokens);
        let plain = self.input_tokens.unwrap_or(uncached);
        usage.cache_read_tokens = read;
        usage.cache_write_tokens = write;
        usage.input_tokens = plain.saturating_add(read).saturating_add(write);
        if let Some(output) = self.output_tokens {
            usage.output_tokens = output;
        }
    }
}

impl UsageTracker {
    pub(super) fn observe_anthropic(&mut self, event: &SseEvent) {
        let name = event.event.as_deref().unwrap_or_default();
        match name {
            "message_start" => {
                if let Ok(start) = serde_json::from_str::<AnthropicStart>(&event.data) {
                    if let Some(usage) = start.message.usage {
                        self.usage = Some(usage.into_usage(start.message.model));
                    }
                }
            }
            "message_delta" => {
                if let Ok(delta) = serde_json::from_str::<AnthropicDelta>(&event.data) {
                    if let Some(update) = delta.usage {
                        let usage = self.usage.get_or_insert_with(Usage::default);
                        update.apply_cumulative(usage);
                    }
                }
            }
            "message_stop" => self.settle(StreamCompletion::Completed),
            "error" => self.settle(StreamCompletion::Failed),
            _ => {}
        }
    }
}
