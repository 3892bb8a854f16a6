//! Errors a layer makes itself (a timeout, an open breaker, a budget), in
//! the shape of the provider's own errors, so that official SDKs raise
//! their usual exceptions: a JSON error body before the response head, an
//! SSE error event once a stream has started.
//!
//! ```
//! use llm_layers_core::provider_error::{json_error, sse_error_event};
//! use llm_layers_core::ApiKind;
//!
//! let body = json_error(ApiKind::AnthropicMessages, 504, "timeout_error", "no answer");
//! let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(value["type"], "error");
//! assert_eq!(value["error"]["type"], "timeout_error");
//!
//! let event = sse_error_event(ApiKind::OpenAiChat, "timeout_error", "stalled");
//! assert!(event.starts_with(b"data: {\"error\""));
//! ```

use bytes::Bytes;
use serde_json::json;

/// Marks an answer a layer made itself (a timeout's 504, an open
/// breaker's 503) rather than the provider: a cache never stores it, and
/// shares it with the requests that joined the same call instead of
/// letting each make its own (they would fail the same way, later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MadeByLayer;

use crate::api::{ApiKind, Provider};

/// A JSON error body as `kind`'s provider writes one, for `status`.
/// `error_type` is the provider's error type (`timeout_error`, …).
pub fn json_error(kind: ApiKind, status: u16, error_type: &str, message: &str) -> Bytes {
    let value = match kind.provider() {
        Provider::Anthropic => json!({
            "type": "error",
            "error": {"type": error_type, "message": message},
        }),
        Provider::Gemini => json!({
            "error": {"code": status, "message": message, "status": gemini_status(status)},
        }),
        Provider::OpenAi | Provider::Unknown => json!({
            "error": {"message": message, "type": error_type, "param": null, "code": error_type},
        }),
    };
    Bytes::from(value.to_string())
}

/// An SSE event that ends a stream with an error, as `kind`'s provider
/// sends one mid-stream (OpenAI chat: a `data:` chunk with an `error`
/// member; Responses: an `error` event; Anthropic: an `error` event;
/// Gemini: a chunk with an `error` member).
pub fn sse_error_event(kind: ApiKind, error_type: &str, message: &str) -> Bytes {
    let text = match kind {
        ApiKind::AnthropicMessages => format!(
            "event: error\ndata: {}\n\n",
            json!({"type": "error", "error": {"type": error_type, "message": message}})
        ),
        ApiKind::OpenAiResponses => format!(
            "event: error\ndata: {}\n\n",
            json!({"type": "error", "code": error_type, "message": message, "param": null})
        ),
        ApiKind::GeminiGenerateContent => format!(
            "data: {}\n\n",
            json!({"error": {"code": 504, "message": message, "status": "DEADLINE_EXCEEDED"}})
        ),
        _ => format!(
            "data: {}\n\n",
            json!({"error": {"message": message, "type": error_type, "param": null, "code": error_type}})
        ),
    };
    Bytes::from(text)
}

/// Google's status name for an HTTP status.
fn gemini_status(status: u16) -> &'static str {
    match status {
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        400 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;
    use crate::usage::{StreamCompletion, UsageTracker};

    #[test]
    fn every_error_event_fails_its_stream() {
        for kind in [
            ApiKind::OpenAiChat,
            ApiKind::OpenAiCompletions,
            ApiKind::OpenAiResponses,
            ApiKind::AnthropicMessages,
            ApiKind::GeminiGenerateContent,
        ] {
            let mut parser = SseParser::new();
            let mut usage = UsageTracker::new(kind);
            parser.feed(&sse_error_event(kind, "timeout_error", "x"), |event| {
                usage.observe(event)
            });
            assert_eq!(usage.completion(), StreamCompletion::Failed, "{kind:?}");
        }
    }

    #[test]
    fn json_errors_are_json_in_each_shape() {
        let gemini = json_error(ApiKind::GeminiGenerateContent, 504, "timeout_error", "m");
        let gemini: serde_json::Value = serde_json::from_slice(&gemini).unwrap();
        assert_eq!(gemini["error"]["status"], "DEADLINE_EXCEEDED");
        let openai = json_error(ApiKind::OpenAiChat, 504, "timeout_error", "m");
        let openai: serde_json::Value = serde_json::from_slice(&openai).unwrap();
        assert_eq!(openai["error"]["type"], "timeout_error");
    }
}
