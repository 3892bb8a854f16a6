//! Usage extraction from arbitrary JSON bodies and SSE streams of every API
//! kind: never panics, and the uncached input is never more than the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_core::usage::{token_usage_from_json, usage_from_json};
use llm_layers_core::{ApiKind, SseParser, StreamUsage};

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
    assert_eq!(token_usage_from_json(kind, bytes), without_model);
    let mut parser = SseParser::new();
    let mut tracker = StreamUsage::new(kind);
    parser.feed(bytes, |event| tracker.observe(event));
    if let Some(usage) = tracker.usage() {
        assert!(usage.uncached_input_tokens() <= usage.input_tokens);
    }
});
