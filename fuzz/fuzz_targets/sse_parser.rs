//! The SSE parser on arbitrary bytes split at an arbitrary point: never
//! panics, and a split never changes the events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_core::{SseEvent, SseParser};

fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut parser = SseParser::with_max_event_bytes(1 << 16);
    let mut events = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, |event| events.push(event.clone()));
    }
    parser.finish();
    events
}

fuzz_target!(|input: (u16, &[u8])| {
    let (cut, bytes) = input;
    let cut = cut as usize % (bytes.len() + 1);
    let whole = parse(&[bytes]);
    let split = parse(&[&bytes[..cut], &bytes[cut..]]);
    assert_eq!(whole, split);
});
