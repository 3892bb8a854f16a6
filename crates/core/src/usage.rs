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

use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};

use crate::api::ApiKind;
use crate::json_member::{top_level_member, top_level_member_with};
use crate::sse::SseEvent;
use crate::token_counts::read_token_counts;

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

impl Usage {
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

static USAGE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static MODEL_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\""));

/// The fast path: read only the top-level `usage` (and `model`) members.
fn usage_from_members(kind: ApiKind, body: &[u8], with_model: bool) -> Option<Usage> {
    if !matches!(
        kind,
        ApiKind::OpenAiChat
            | ApiKind::OpenAiCompletions
            | ApiKind::OpenAiEmbeddings
            | ApiKind::OpenAiResponses
            | ApiKind::AnthropicMessages
    ) {
        return None;
    }
    let counts = top_level_member_with(body, &USAGE_KEY, read_token_counts)?;
    // A model that cannot be located for sure sends the body to the full parse.
    let model = if !with_model {
        None
    } else {
        match top_level_member::<String>(body, &MODEL_KEY) {
            Some(model) => Some(model),
            None if MODEL_KEY.find(body).is_some() => return None,
            None => None,
        }
    };
    Some(match kind {
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
    })
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

/// Follows a streamed response's events, keeping the latest usage and
/// whether the stream ended normally.
#[derive(Clone, Debug)]
pub struct StreamUsage {
    kind: ApiKind,
    usage: Option<Usage>,
    completion: StreamCompletion,
}

impl StreamUsage {
    /// Follows a stream of the given API.
    pub fn new(kind: ApiKind) -> Self {
        StreamUsage {
            kind,
            usage: None,
            completion: StreamCompletion::Open,
        }
    }

    /// The usage seen so far (complete once the stream has ended).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// How the stream has ended so far.
    pub fn completion(&self) -> StreamCompletion {
        self.completion
    }

    /// The result of reading a whole (non-streamed) body: its usage, and
    /// complete by definition.
    pub fn of_body(kind: ApiKind, usage: Option<Usage>) -> Self {
        StreamUsage {
            kind,
            usage,
            completion: StreamCompletion::Completed,
        }
    }

    /// Records how the stream ended; a failure is final (a `[DONE]` after
    /// an error event does not make the stream whole).
    fn settle(&mut self, completion: StreamCompletion) {
        if self.completion != StreamCompletion::Failed {
            self.completion = completion;
        }
    }

    /// Takes one event into account.
    pub fn observe(&mut self, event: &SseEvent) {
        match self.kind {
            ApiKind::OpenAiChat | ApiKind::OpenAiCompletions => self.observe_openai_chat(event),
            ApiKind::OpenAiResponses => self.observe_openai_responses(event),
            ApiKind::AnthropicMessages => self.observe_anthropic(event),
            ApiKind::GeminiGenerateContent => {
                let data = event.data.as_bytes();
                if let Some(usage) = gemini_from_json(data) {
                    self.usage = Some(usage);
                }
                // Gemini sends no end event: its last chunk carries the
                // candidate's `finishReason`.
                if GEMINI_FINISH.find(data).is_some() {
                    self.settle(StreamCompletion::Completed);
                }
                if starts_with_error_member(data) {
                    self.settle(StreamCompletion::Failed);
                }
            }
            ApiKind::OpenAiEmbeddings | ApiKind::Unknown => {}
        }
    }

    fn observe_openai_chat(&mut self, event: &SseEvent) {
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

    fn observe_openai_responses(&mut self, event: &SseEvent) {
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

    fn observe_anthropic(&mut self, event: &SseEvent) {
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

static USAGE_MEMBER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static GEMINI_FINISH: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"finishReason\""));

/// OpenAI reports a mid-stream failure as an event whose data is
/// `{"error": {…}}`: checked by its first member, without a search.
fn starts_with_error_member(data: &[u8]) -> bool {
    let trimmed = data.trim_ascii_start();
    trimmed
        .strip_prefix(b"{")
        .is_some_and(|rest| rest.trim_ascii_start().starts_with(b"\"error\""))
}

/// True when `data` contains the member `name` followed by a colon and an
/// object (`"usage": {`), without parsing the JSON.
fn has_object_member(data: &[u8], name: &Finder<'_>) -> bool {
    let skip = name.needle().len();
    let mut from = 0;
    // `find` in a loop: cheaper than building a `FindIter` for every event.
    while let Some(found) = name.find(&data[from..]) {
        let after = from + found + skip;
        let mut rest = data[after..]
            .iter()
            .copied()
            .skip_while(u8::is_ascii_whitespace);
        if rest.next() == Some(b':') && rest.find(|b| !b.is_ascii_whitespace()) == Some(b'{') {
            return true;
        }
        from = after;
    }
    false
}

/// A response's usage (and, for a stream, its completion), shared between
/// layers so that a body is parsed once: the layer that parses it puts this
/// in the response extensions and publishes its result when the body ends;
/// outer layers, which see the end after it, read the result instead of
/// parsing.
#[derive(Clone, Debug, Default)]
pub struct SharedStreamUsage(std::sync::Arc<std::sync::Mutex<Option<StreamUsage>>>);

impl SharedStreamUsage {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes the parsing layer's result.
    pub fn publish(&self, usage: &StreamUsage) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(usage.clone());
    }

    /// The published result, once the parsing layer has seen the end.
    pub fn get(&self) -> Option<StreamUsage> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Deserialize)]
struct OpenAiChatResponse {
    model: Option<String>,
    usage: Option<OpenAiChatUsage>,
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
struct OpenAiChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    prompt_tokens_details: Option<CachedDetails>,
    completion_tokens_details: Option<ReasoningDetails>,
}

#[derive(Deserialize)]
struct CachedDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Deserialize)]
struct ReasoningDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

impl OpenAiChatUsage {
    fn into_usage(self, model: Option<String>) -> Usage {
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
struct OpenAiResponse {
    model: Option<String>,
    usage: Option<ResponsesUsage>,
}

#[derive(Deserialize)]
struct ResponsesEvent {
    response: Option<OpenAiResponse>,
}

#[derive(Deserialize)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    input_tokens_details: Option<CachedDetails>,
    output_tokens_details: Option<ReasoningDetails>,
}

impl ResponsesUsage {
    fn into_usage(self, model: Option<String>) -> Usage {
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

#[derive(Deserialize)]
struct AnthropicMessage {
    model: Option<String>,
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct AnthropicStart {
    message: AnthropicMessage,
}

#[derive(Deserialize)]
struct AnthropicDelta {
    usage: Option<AnthropicUsage>,
}

/// Anthropic's usage object; every field may be absent in a `message_delta`.
#[derive(Deserialize)]
struct AnthropicUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    fn into_usage(self, model: Option<String>) -> Usage {
        let mut usage = Usage {
            model,
            ..Usage::default()
        };
        self.apply_cumulative(&mut usage);
        usage
    }

    /// Anthropic's counts are cumulative: a field present in a later event
    /// replaces the earlier value.
    fn apply_cumulative(self, usage: &mut Usage) {
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiResponse {
    model_version: Option<String>,
    usage_metadata: Option<GeminiUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
}

impl GeminiResponse {
    fn into_usage(self) -> Option<Usage> {
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
fn gemini_from_json(body: &[u8]) -> Option<Usage> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;

    fn stream_usage(kind: ApiKind, stream: &str) -> StreamUsage {
        let mut parser = SseParser::new();
        let mut tracker = StreamUsage::new(kind);
        parser.feed(stream.as_bytes(), |event| tracker.observe(event));
        tracker
    }

    #[test]
    fn openai_responses_json() {
        let body = br#"{"model":"gpt-5","usage":{"input_tokens":1500,"input_tokens_details":{"cached_tokens":1024},"output_tokens":80,"output_tokens_details":{"reasoning_tokens":64}}}"#;
        let usage = usage_from_json(ApiKind::OpenAiResponses, body).unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.output_tokens,
                usage.reasoning_tokens
            ),
            (1500, 1024, 80, 64)
        );
    }

    #[test]
    fn anthropic_json_counts_cache_tokens_into_input() {
        let body = br#"{"model":"claude-sonnet-4-5","usage":{"input_tokens":50,"cache_creation_input_tokens":2000,"cache_read_input_tokens":1000,"output_tokens":20}}"#;
        let usage = usage_from_json(ApiKind::AnthropicMessages, body).unwrap();
        assert_eq!(usage.input_tokens, 3050);
        assert_eq!(usage.uncached_input_tokens(), 50);
        assert_eq!(usage.cache_write_tokens, 2000);
        assert_eq!(usage.cache_read_tokens, 1000);
    }

    #[test]
    fn embeddings_and_gemini_json() {
        let usage = usage_from_json(
            ApiKind::OpenAiEmbeddings,
            br#"{"model":"text-embedding-3-small","data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#,
        )
        .unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (8, 0));
        let gemini = br#"[{"candidates":[]},{"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"cachedContentTokenCount":4,"thoughtsTokenCount":2},"modelVersion":"gemini-2.0-flash"}]"#;
        let usage = usage_from_json(ApiKind::GeminiGenerateContent, gemini).unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.reasoning_tokens
            ),
            (10, 7, 4, 2)
        );
    }

    #[test]
    fn no_usage_or_bad_json_is_none() {
        assert_eq!(
            usage_from_json(ApiKind::OpenAiChat, br#"{"model":"m"}"#),
            None
        );
        assert_eq!(usage_from_json(ApiKind::OpenAiChat, b"\xff{"), None);
        assert_eq!(usage_from_json(ApiKind::Unknown, br#"{"usage":{}}"#), None);
    }

    #[test]
    fn object_member_check() {
        let usage = &USAGE_MEMBER;
        assert!(has_object_member(br#"{"usage" : {"a":1}}"#, usage));
        assert!(!has_object_member(br#"{"usage":null}"#, usage));
        assert!(!has_object_member(br#"{"text":"usage"}"#, usage));
        assert!(has_object_member(br#"{"x":"\"usage\"","usage":{}}"#, usage));
        assert!(starts_with_error_member(
            br#" { "error": {"message":"boom"}}"#
        ));
        assert!(!starts_with_error_member(br#"{"id":"x","error":null}"#));
    }

    #[test]
    fn token_usage_is_usage_without_the_model() {
        let body = br#"{"model":"gpt-4o","usage":{"prompt_tokens":5,"completion_tokens":1}}"#;
        let mut usage = usage_from_json(ApiKind::OpenAiChat, body).unwrap();
        assert_eq!(usage.model.take().as_deref(), Some("gpt-4o"));
        assert_eq!(
            token_usage_from_json(ApiKind::OpenAiChat, body),
            Some(usage)
        );
    }

    #[test]
    fn openai_stream_usage_comes_in_the_last_chunk() {
        let tracker = stream_usage(
            ApiKind::OpenAiChat,
            "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
             data: {\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n\
             data: [DONE]\n\n",
        );
        assert_eq!(tracker.completion(), StreamCompletion::Completed);
        let usage = tracker.usage().unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (9, 2));
    }

    #[test]
    fn anthropic_stream_usage_merges_start_and_delta() {
        let tracker = stream_usage(
            ApiKind::AnthropicMessages,
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":2048,\"cache_creation_input_tokens\":0,\"output_tokens\":1}}}\n\n\
             event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\n\
             event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":42}}\n\n\
             event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(tracker.completion(), StreamCompletion::Completed);
        let usage = tracker.usage().unwrap();
        assert_eq!(usage.input_tokens, 2060);
        assert_eq!(usage.cache_read_tokens, 2048);
        assert_eq!(usage.output_tokens, 42);
        assert_eq!(usage.model.as_deref(), Some("claude-haiku-4-5"));
    }

    #[test]
    fn responses_stream_and_errors() {
        let tracker = stream_usage(
            ApiKind::OpenAiResponses,
            "event: response.output_text.delta\ndata: {\"delta\":\"x\"}\n\n\
             event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        );
        assert_eq!(tracker.completion(), StreamCompletion::Completed);
        assert_eq!(tracker.usage().unwrap().input_tokens, 3);
        let failed = stream_usage(
            ApiKind::OpenAiChat,
            "data: {\"error\":{\"message\":\"boom\"}}\n\n",
        );
        assert_eq!(failed.completion(), StreamCompletion::Failed);
        let anthropic = stream_usage(
            ApiKind::AnthropicMessages,
            "event: error\ndata: {\"type\":\"error\"}\n\n",
        );
        assert_eq!(anthropic.completion(), StreamCompletion::Failed);
    }

    #[test]
    fn a_failure_is_final_and_gemini_ends_with_a_finish_reason() {
        let failed_then_done = stream_usage(
            ApiKind::OpenAiChat,
            "data: {\"error\":{\"message\":\"boom\"}}\n\ndata: [DONE]\n\n",
        );
        assert_eq!(failed_then_done.completion(), StreamCompletion::Failed);
        let gemini_open = stream_usage(
            ApiKind::GeminiGenerateContent,
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\n\n",
        );
        assert_eq!(gemini_open.completion(), StreamCompletion::Open);
        let gemini_done = stream_usage(
            ApiKind::GeminiGenerateContent,
            "data: {\"candidates\":[{\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":2}}\n\n",
        );
        assert_eq!(gemini_done.completion(), StreamCompletion::Completed);
    }

    mod fast_path_agrees_with_full_parse {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{json, Value};

        /// Random JSON in which objects often carry `usage` and `model` keys,
        /// to tempt the member search into nested lookalikes.
        fn tempting() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                any::<u32>().prop_map(Value::from),
                "[a-z \"usage:{}]{0,12}".prop_map(Value::String),
                Just(json!({"prompt_tokens": 7, "completion_tokens": 9})),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    proptest::collection::btree_map(
                        prop_oneof![
                            Just("usage".to_owned()),
                            Just("model".to_owned()),
                            "[a-z]{1,5}"
                        ],
                        inner,
                        0..4
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// A count as providers send it, or something the reader must not
        /// take for one.
        fn count() -> impl Strategy<Value = Value> {
            prop_oneof![
                6 => any::<u32>().prop_map(Value::from),
                1 => Just(json!(u64::MAX)),
                1 => Just(Value::Null),
                1 => Just(json!(-3)),
                1 => Just(json!(2.5)),
                1 => Just(json!("12")),
            ]
        }

        /// Usage objects with known and unknown members, nested details,
        /// and odd values.
        fn usage_object() -> impl Strategy<Value = Value> {
            let names = prop_oneof![
                Just("prompt_tokens"),
                Just("completion_tokens"),
                Just("input_tokens"),
                Just("output_tokens"),
                Just("cache_creation_input_tokens"),
                Just("cache_read_input_tokens"),
                Just("total_tokens"),
                Just("service_tier"),
            ];
            let details = prop_oneof![
                Just("prompt_tokens_details"),
                Just("input_tokens_details"),
                Just("completion_tokens_details"),
                Just("output_tokens_details"),
            ];
            let detail_body = proptest::collection::btree_map(
                prop_oneof![
                    Just("cached_tokens"),
                    Just("reasoning_tokens"),
                    Just("audio_tokens")
                ],
                count(),
                0..3,
            )
            .prop_map(|m| json!(m));
            (
                proptest::collection::btree_map(names, count(), 0..7),
                proptest::collection::btree_map(
                    details,
                    prop_oneof![4 => detail_body, 1 => Just(Value::Null)],
                    0..3,
                ),
                tempting(),
            )
                .prop_map(|(counts, details, extra)| {
                    let mut object = serde_json::Map::new();
                    for (k, v) in counts {
                        object.insert(k.to_owned(), v);
                    }
                    for (k, v) in details {
                        object.insert(k.to_owned(), v);
                    }
                    object.insert("extra".to_owned(), extra);
                    Value::Object(object)
                })
        }

        proptest! {
            #[test]
            fn whenever_the_fast_path_answers_it_agrees(
                before in tempting(),
                after in tempting(),
                usage in usage_object(),
                usage_first in any::<bool>(),
                kind in prop_oneof![Just(ApiKind::OpenAiChat), Just(ApiKind::AnthropicMessages), Just(ApiKind::OpenAiResponses)],
            ) {
                let members = [
                    ("\"before\"", before.to_string()),
                    ("\"usage\"", usage.to_string()),
                    ("\"model\"", "\"m-1\"".to_owned()),
                    ("\"after\"", after.to_string()),
                ];
                let mut order: Vec<usize> = vec![0, 1, 2, 3];
                if usage_first {
                    order.swap(0, 1);
                }
                let body = format!(
                    "{{{}}}",
                    order.iter().map(|&i| format!("{}:{}", members[i].0, members[i].1)).collect::<Vec<_>>().join(",")
                );
                let full = usage_from_full_parse(kind, body.as_bytes());
                if let Some(fast) = usage_from_members(kind, body.as_bytes(), true) {
                    prop_assert_eq!(Some(fast), full, "{}", body);
                }
                prop_assert_eq!(usage_from_json(kind, body.as_bytes()), usage_from_full_parse(kind, body.as_bytes()));
            }
        }
    }
}
