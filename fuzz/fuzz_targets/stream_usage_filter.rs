//! Taking the added usage out of a chat stream, on arbitrary bytes: never
//! panics, never adds a byte, and events that name no usage pass as they
//! are.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_metrics::stream_usage::filter_events;

fuzz_target!(|events: &[u8]| {
    let out = filter_events(events);
    assert!(out.len() <= events.len());
    if memchr::memmem::find(events, b"usage").is_none() {
        assert_eq!(&out[..], events);
    }
});
