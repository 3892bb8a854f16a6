//! The completeness check on arbitrary bodies: never panics; a plain body
//! it accepts is one JSON value of the declared length; a stream's verdict
//! does not depend on how the bytes were split into chunks, and bytes
//! appended after a failure never make a stream whole; the plain check's
//! one reading finds the usage the usage reader finds on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_core::completeness::{check_plain_answer, check_plain_body, check_stream, Incomplete};
use llm_layers_core::usage::token_usage_from_json;
use llm_layers_core::{ApiKind, SseParser, UsageTracker};

const KINDS: [ApiKind; 5] = [
    ApiKind::OpenAiChat,
    ApiKind::OpenAiCompletions,
    ApiKind::OpenAiResponses,
    ApiKind::AnthropicMessages,
    ApiKind::GeminiGenerateContent,
];

fn verdict(kind: ApiKind, pieces: &[&[u8]]) -> Result<(), Incomplete> {
    let mut parser = SseParser::new();
    let mut tracker = UsageTracker::new(kind);
    for piece in pieces {
        parser.feed(piece, |event| tracker.observe(event));
    }
    check_stream(tracker.completion())
}

fuzz_target!(|input: (u8, u16, u8, &[u8])| {
    let (kind, split, declared, bytes) = input;
    let declared = (declared % 2 == 0).then_some(bytes.len() as u64);
    if check_plain_body(bytes, declared).is_ok() {
        // The grammar has no number range, and no member name that is
        // special to serde_json (`$serde_json::private::RawValue`, with
        // its `raw_value` feature); serde_json's values have both.
        let magic = memchr::memmem::find(bytes, b"$serde_json::private::RawValue").is_some();
        if let (Err(error), false) = (serde_json::from_slice::<serde_json::Value>(bytes), magic) {
            let error = error.to_string();
            assert!(error.contains("number out of range"), "{error}");
        }
    }
    let kind = KINDS[kind as usize % KINDS.len()];
    let alone = check_plain_body(bytes, declared).map(|()| token_usage_from_json(kind, bytes));
    assert_eq!(check_plain_answer(bytes, declared, kind), alone);
    let at = split as usize % (bytes.len() + 1);
    let whole = verdict(kind, &[bytes]);
    assert_eq!(whole, verdict(kind, &[&bytes[..at], &bytes[at..]]));
    if verdict(kind, &[&bytes[..at]]) == Err(Incomplete::StreamError) {
        assert_eq!(whole, Err(Incomplete::StreamError), "a failure is final");
    }
});
