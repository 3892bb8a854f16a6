//! What the disk store does with the bytes it reads back (a file another
//! version wrote, a torn or tampered page): decode them, and for an entry
//! that decodes, judge its freshness, rebuild its headers and walk its
//! body, as a hit would. Never panics, whatever the stored times, lengths
//! and header bytes say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_cache::codec::decode;
use llm_layers_cache::CachedBody;

fuzz_target!(|bytes: &[u8]| {
    let Ok((entry, _seq)) = decode(bytes) else {
        return;
    };
    let _ = entry.is_fresh();
    let _ = entry.age();
    let headers = entry.header_map();
    assert_eq!(headers.len(), entry.headers.len());
    let body: usize = match &entry.body {
        CachedBody::Whole(bytes) => bytes.len(),
        CachedBody::Chunks(chunks) => chunks.iter().map(|chunk| chunk.bytes.len()).sum(),
    };
    assert!(entry.size() >= body);
});
