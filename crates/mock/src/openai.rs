//! OpenAI chat completions, legacy completions, responses and embeddings,
//! in the shapes the real API returns.

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::answer::Answer;
use crate::render::{tokens_for_bytes, Members, Rendered};
use crate::reply::{sse_event, ApiError, Call, ErrorShape, Reply};

const SHAPE: ErrorShape = ErrorShape::OpenAi;
const FINGERPRINT: &str = "fp_llm_layers_mock";

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::invalid(
            SHAPE,
            format!("We could not parse the JSON body of your request: {error}"),
        )
    })
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    content: Option<Box<RawValue>>,
    tool_calls: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    tools: Vec<Box<RawValue>>,
    response_format: Option<Box<RawValue>>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
}

impl ChatRequest {
    fn render(&self) -> Rendered {
        let mut prompt = Rendered::default();
        for tool in &self.tools {
            prompt.push_raw(tool);
        }
        if let Some(format) = &self.response_format {
            prompt.push_raw(format);
        }
        for message in &self.messages {
            prompt.push_role(&message.role);
            if let Some(content) = &message.content {
                prompt.push_content(content);
            }
            if let Some(calls) = &message.tool_calls {
                prompt.push_text(calls.get());
            }
            prompt.end_block(None);
        }
        prompt
    }
}

fn chat_usage(prompt_tokens: u64, cached: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    })
}

/// `POST /v1/chat/completions`
pub fn chat(call: &Call) -> Result<Reply, ApiError> {
    let request: ChatRequest = parse(call.body)?;
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            SHAPE,
            "'messages' must contain at least one message",
        ));
    }
    let prompt = request.render();
    let cached = call
        .cache
        .openai(call.partition, &prompt, call.openai_ttl)
        .read;
    let max = request.max_completion_tokens.or(request.max_tokens);
    let answer = Answer::new(&request.model, &prompt.text, max);
    call.prefill(prompt.tokens() - cached);
    let usage = chat_usage(prompt.tokens(), cached, answer.tokens());
    let id = answer.id("chatcmpl-");
    let created = answer.created();
    if !request.stream {
        return Ok(Reply::Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": request.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.text(), "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": usage,
            "service_tier": "default"
        })));
    }
    let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
    let chunk = |delta: Value, finish: Value| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        sse_event(None, &chunk)
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    for piece in answer.pieces() {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if include_usage {
        events.push(sse_event(
            None,
            &json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": request.model,
                "system_fingerprint": FINGERPRINT,
                "choices": [],
                "usage": usage
            }),
        ));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Ok(Reply::Stream(events))
}

#[derive(Deserialize)]
struct CompletionRequest {
    model: String,
    prompt: Value,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
}

/// `POST /v1/completions`
pub fn completions(call: &Call) -> Result<Reply, ApiError> {
    let request: CompletionRequest = parse(call.body)?;
    let mut prompt = Rendered::default();
    match &request.prompt {
        Value::String(text) => prompt.push_text(text),
        other => prompt.push_text(&other.to_string()),
    }
    let cached = call
        .cache
        .openai(call.partition, &prompt, call.openai_ttl)
        .read;
    let answer = Answer::new(
        &request.model,
        &prompt.text,
        request.max_tokens.or(Some(16)),
    );
    call.prefill(prompt.tokens() - cached);
    let usage = chat_usage(prompt.tokens(), cached, answer.tokens());
    let id = answer.id("cmpl-");
    let body = |text: String, finish: Value, usage: Value| {
        json!({
            "id": id,
            "object": "text_completion",
            "created": answer.created(),
            "model": request.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}],
            "usage": usage
        })
    };
    if !request.stream {
        return Ok(Reply::Json(body(answer.text(), json!("stop"), usage)));
    }
    let mut events: Vec<Bytes> = answer
        .pieces()
        .into_iter()
        .map(|piece| sse_event(None, &body(piece, Value::Null, Value::Null)))
        .collect();
    events.push(sse_event(
        None,
        &body(String::new(), json!("stop"), Value::Null),
    ));
    if request.stream_options.is_some_and(|o| o.include_usage) {
        let mut last = body(String::new(), Value::Null, usage);
        last["choices"] = json!([]);
        events.push(sse_event(None, &last));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Ok(Reply::Stream(events))
}

#[derive(Deserialize)]
struct ResponsesRequest {
    model: String,
    /// A string, or a list of items.
    input: Box<RawValue>,
    instructions: Option<String>,
    #[serde(default)]
    tools: Vec<Box<RawValue>>,
    #[serde(default)]
    stream: bool,
    max_output_tokens: Option<u64>,
}

impl ResponsesRequest {
    fn render(&self) -> Rendered {
        let mut prompt = Rendered::default();
        for tool in &self.tools {
            prompt.push_raw(tool);
        }
        if let Some(instructions) = &self.instructions {
            prompt.push_role("developer");
            prompt.push_text(instructions);
            prompt.end_block(None);
        }
        let items = serde_json::from_str::<Vec<Box<RawValue>>>(self.input.get());
        let Ok(items) = items else {
            prompt.push_role("user");
            prompt.push_content(&self.input);
            prompt.end_block(None);
            return prompt;
        };
        for item in &items {
            let message = serde_json::from_str::<Members>(item.get())
                .ok()
                .and_then(|members| {
                    let role = serde_json::from_str::<String>(members.get("role")?.get()).ok()?;
                    Some((role, members.get("content")?.to_owned()))
                });
            match message {
                Some((role, content)) => {
                    prompt.push_role(&role);
                    prompt.push_content(&content);
                    prompt.end_block(None);
                }
                None => prompt.push_raw(item),
            }
        }
        prompt
    }
}

/// `POST /v1/responses`
pub fn responses(call: &Call) -> Result<Reply, ApiError> {
    let request: ResponsesRequest = parse(call.body)?;
    let prompt = request.render();
    let cached = call
        .cache
        .openai(call.partition, &prompt, call.openai_ttl)
        .read;
    call.prefill(prompt.tokens() - cached);
    let answer = Answer::new(&request.model, &prompt.text, request.max_output_tokens);
    let id = answer.id("resp_");
    let message_id = answer.id("msg_");
    let response = |status: &str, text: Option<String>, usage: Value| {
        let output = match &text {
            Some(text) => json!([{
                "type": "message", "id": message_id, "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]
            }]),
            None => json!([]),
        };
        json!({
            "id": id,
            "object": "response",
            "created_at": answer.created(),
            "status": status,
            "model": request.model,
            "instructions": request.instructions,
            "output": output,
            "usage": usage
        })
    };
    let usage = json!({
        "input_tokens": prompt.tokens(),
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": answer.tokens(),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt.tokens() + answer.tokens()
    });
    if !request.stream {
        return Ok(Reply::Json(response(
            "completed",
            Some(answer.text()),
            usage,
        )));
    }
    let mut sequence = 0u64;
    let mut event = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(sequence);
        sequence += 1;
        sse_event(Some(name), &data)
    };
    let mut events = vec![event(
        "response.created",
        json!({"response": response("in_progress", None, Value::Null)}),
    )];
    for piece in answer.pieces() {
        events.push(event(
            "response.output_text.delta",
            json!({"item_id": message_id, "output_index": 0, "content_index": 0, "delta": piece}),
        ));
    }
    events.push(event(
        "response.completed",
        json!({"response": response("completed", Some(answer.text()), usage)}),
    ));
    Ok(Reply::Stream(events))
}

#[derive(Deserialize)]
struct EmbeddingsRequest {
    model: String,
    input: Value,
    dimensions: Option<usize>,
    encoding_format: Option<String>,
}

/// `POST /v1/embeddings`
pub fn embeddings(call: &Call) -> Result<Reply, ApiError> {
    let request: EmbeddingsRequest = parse(call.body)?;
    let inputs: Vec<String> = match &request.input {
        Value::String(text) => vec![text.clone()],
        // One token array is one input; an array of them, several.
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_u64) => {
            vec![request.input.to_string()]
        }
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map_or_else(|| item.to_string(), str::to_owned)
            })
            .collect(),
        _ => {
            return Err(ApiError::invalid(
                SHAPE,
                "'input' must be a string or a non-empty array",
            ))
        }
    };
    // As OpenAI: an empty input is refused, and fails the whole request.
    if let Some(empty) = inputs.iter().position(String::is_empty) {
        return Err(ApiError::invalid(
            SHAPE,
            format!("'$.input[{empty}]' is invalid: an input must not be empty"),
        ));
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                SHAPE,
                format!("'encoding_format' must be float or base64, not {other:?}"),
            ))
        }
    };
    let dimensions = request.dimensions.unwrap_or(64).clamp(1, 4096);
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            tokens += tokens_for_bytes(text.len());
            let vector = Answer::new(&request.model, text, None).vector(dimensions);
            let embedding = match base64 {
                // Little-endian f32s, base64-encoded, as OpenAI sends them.
                true => {
                    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
                false => json!(vector),
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(Reply::Json(json!({
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    })))
}
