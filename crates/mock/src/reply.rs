//! What an API handler answers, before pacing and faults are applied.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};

use crate::prompt_cache::PromptCache;

/// The request as a handler sees it.
pub struct Call<'a> {
    /// The request body.
    pub body: &'a [u8],
    /// The prompt-cache partition (the credential's fingerprint).
    pub partition: &'a str,
    /// The server's emulated prompt caches.
    pub cache: &'a PromptCache,
    /// OpenAI prompt-cache TTL.
    pub openai_ttl: std::time::Duration,
    /// Set by the handler: prompt tokens the prompt cache did not serve.
    pub uncached_prompt_tokens: &'a std::sync::atomic::AtomicU64,
}

impl Call<'_> {
    /// Records the prompt tokens the prompt cache did not serve.
    pub fn prefill(&self, tokens: u64) {
        self.uncached_prompt_tokens
            .store(tokens, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A handler's answer.
pub enum Reply {
    /// A JSON body with status 200.
    Json(Value),
    /// Server-sent events, each already framed (`event: …\ndata: …\n\n`).
    Stream(Vec<Bytes>),
}

/// Error shapes differ by provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error":{"message","type","param","code"}}`
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`
    Anthropic,
    /// `{"error":{"code","message","status"}}`
    Gemini,
}

/// An error answer in the provider's shape.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Provider error type, e.g. `invalid_request_error`.
    pub kind: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Which provider's shape to use.
    pub shape: ErrorShape,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(shape: ErrorShape, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.into(),
            shape,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self.shape {
            ErrorShape::OpenAi => {
                // OpenAI repeats a few types as the code, as its quota error does.
                let code = (self.kind == "insufficient_quota").then_some(self.kind);
                json!({
                    "error": {"message": self.message, "type": self.kind, "param": null, "code": code}
                })
            }
            ErrorShape::Anthropic => json!({
                "type": "error",
                "error": {"type": self.kind, "message": self.message}
            }),
            ErrorShape::Gemini => json!({
                "error": {
                    "code": self.status.as_u16(),
                    "message": self.message,
                    "status": gemini_status(self.status),
                }
            }),
        }
    }
}

/// Google's status name for an HTTP status.
fn gemini_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        413 => "INVALID_ARGUMENT",
        429 => "RESOURCE_EXHAUSTED",
        503 | 529 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

/// Frames one SSE event.
pub fn sse_event(name: Option<&str>, data: &Value) -> Bytes {
    let mut out = String::new();
    if let Some(name) = name {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
    Bytes::from(out)
}
