//! Usage extraction from arbitrary JSON bodies and SSE streams of every API
//! kind: never panics, the uncached input is never more than the input,
//! and on a valid JSON body the fast path (top-level members only) agrees
//! with the full parse. (On an invalid body the fast path may still read a
//! member it can prove top-level from one side: best effort, by design.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_core::usage::{token_usage_from_json, usage_from_json};
use llm_layers_core::{ApiKind, SseParser, UsageTracker};

const KINDS: [ApiKind; 7] = [
    ApiKind::OpenAiChat,
    ApiKind::OpenAiCompletions,
    ApiKind::OpenAiResponses,
    ApiKind::OpenAiEmbeddings,
    ApiKind::AnthropicMessages,
    ApiKind::GeminiGenerateContent,
    ApiKind::Unknown,
];

fuzz_target!(|input: (u8, &[u8])| {
    let (kind, bytes) = input;
    let kind = KINDS[kind as usize % KINDS.len()];
    let usage = usage_from_json(kind, bytes);
    if let Some(usage) = &usage {
        assert!(usage.uncached_input_tokens() <= usage.input_tokens);
    }
    let without_model = usage.map(|mut usage| {
        usage.model = None;
        usage
    });
    let valid = std::str::from_utf8(bytes).is_ok()
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    if valid {
        assert_eq!(token_usage_from_json(kind, bytes), without_model);
    }
    let mut parser = SseParser::new();
    let mut tracker = UsageTracker::new(kind);
    parser.feed(bytes, |event| tracker.observe(event));
    if let Some(usage) = tracker.usage() {
        assert!(usage.uncached_input_tokens() <= usage.input_tokens);
    }
});
