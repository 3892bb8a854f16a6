//! The SSE parser on arbitrary bytes split at two arbitrary points (empty
//! pieces included): never panics, and a split never changes the events.
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

fuzz_target!(|input: (u16, u16, &[u8])| {
    let (first, second, bytes) = input;
    let mut cuts = [
        first as usize % (bytes.len() + 1),
        second as usize % (bytes.len() + 1),
    ];
    cuts.sort_unstable();
    let whole = parse(&[bytes]);
    let split = parse(&[
        &bytes[..cuts[0]],
        &bytes[cuts[0]..cuts[1]],
        &bytes[cuts[1]..],
    ]);
    assert_eq!(whole, split);
});
