//! Anthropic's Messages API, plain and streamed, with `cache_control`
//! breakpoints emulated.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::answer::Answer;
use crate::render::Rendered;
use crate::reply::{sse_event, ApiError, Call, ErrorShape, Reply};

const SHAPE: ErrorShape = ErrorShape::Anthropic;
/// Anthropic accepts at most this many `cache_control` blocks.
pub const MAX_BREAKPOINTS: usize = 4;

#[derive(Deserialize)]
struct Message {
    role: String,
    content: Box<RawValue>,
}

#[derive(Deserialize)]
struct MessagesRequest {
    model: String,
    max_tokens: Option<u64>,
    messages: Vec<Message>,
    system: Option<Box<RawValue>>,
    #[serde(default)]
    tools: Vec<Box<RawValue>>,
    #[serde(default)]
    stream: bool,
}

impl MessagesRequest {
    fn render(&self) -> Rendered {
        let mut prompt = Rendered::default();
        for tool in &self.tools {
            prompt.push_raw(tool);
        }
        if let Some(system) = &self.system {
            prompt.push_role("system");
            prompt.push_content(system);
            prompt.end_block(None);
        }
        for message in &self.messages {
            prompt.push_role(&message.role);
            prompt.push_content(&message.content);
            prompt.end_block(None);
        }
        prompt
    }
}

/// `POST /v1/messages`
pub fn messages(call: &Call) -> Result<Reply, ApiError> {
    let request: MessagesRequest = serde_json::from_slice(call.body)
        .map_err(|error| ApiError::invalid(SHAPE, format!("invalid request body: {error}")))?;
    let Some(max_tokens) = request.max_tokens else {
        return Err(ApiError::invalid(SHAPE, "max_tokens: Field required"));
    };
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            SHAPE,
            "messages: at least one message is required",
        ));
    }
    let prompt = request.render();
    if prompt.breakpoints.len() > MAX_BREAKPOINTS {
        return Err(ApiError::invalid(
            SHAPE,
            format!(
                "A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {}.",
                prompt.breakpoints.len()
            ),
        ));
    }
    let cache = call
        .cache
        .anthropic(call.partition, &request.model, &prompt);
    let answer = Answer::new(&request.model, &prompt.text, Some(max_tokens));
    let plain_input = prompt.tokens() - cache.read - cache.written;
    call.prefill(prompt.tokens() - cache.read);
    let usage = |output: u64| {
        json!({
            "input_tokens": plain_input,
            "cache_creation_input_tokens": cache.written,
            "cache_read_input_tokens": cache.read,
            "output_tokens": output,
            "service_tier": "standard"
        })
    };
    let message = |content: Value, stop: Value, output: u64| {
        json!({
            "id": answer.id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": null,
            "usage": usage(output)
        })
    };
    if !request.stream {
        return Ok(Reply::Json(message(
            json!([{"type": "text", "text": answer.text()}]),
            json!("end_turn"),
            answer.tokens(),
        )));
    }
    let mut events = vec![
        sse_event(
            Some("message_start"),
            &json!({"type": "message_start", "message": message(json!([]), Value::Null, 1)}),
        ),
        sse_event(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        sse_event(Some("ping"), &json!({"type": "ping"})),
    ];
    for piece in answer.pieces() {
        events.push(sse_event(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    events.push(sse_event(
        Some("content_block_stop"),
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(sse_event(
        Some("message_delta"),
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": answer.tokens()}
        }),
    ));
    events.push(sse_event(
        Some("message_stop"),
        &json!({"type": "message_stop"}),
    ));
    Ok(Reply::Stream(events))
}
