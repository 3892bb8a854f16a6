//! The connector's scan of a server's HTTP/2 frames for its settings, over
//! arbitrary bytes cut into arbitrary reads: never panics, and sees the
//! same settings however the bytes are cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_connector::h2_settings::FrameScanner;

fn scan(chunks: &[&[u8]]) -> (Vec<(u16, u32)>, usize) {
    let mut scanner = FrameScanner::default();
    let (mut seen, mut ends) = (Vec::new(), 0);
    for chunk in chunks {
        scanner.feed(chunk, |id, value| seen.push((id, value)), || ends += 1);
    }
    (seen, ends)
}

fuzz_target!(|input: (Vec<u8>, &[u8])| {
    let (cuts, bytes) = input;
    let whole = scan(&[bytes]);
    let mut chunks = Vec::new();
    let mut rest = bytes;
    for cut in cuts {
        let at = usize::from(cut).min(rest.len());
        let (chunk, tail) = rest.split_at(at);
        chunks.push(chunk);
        rest = tail;
    }
    chunks.push(rest);
    assert_eq!(scan(&chunks), whole);
});
