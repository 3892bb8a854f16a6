//! The cache's stored-entry codec on arbitrary bytes (what a disk or Redis
//! store may hand back): never panics, and whatever decodes encodes back to
//! the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_cache::codec::{decode, encode};

fuzz_target!(|bytes: &[u8]| {
    if let Ok((entry, seq)) = decode(bytes) {
        let again = encode(&entry, seq);
        let (decoded, decoded_seq) = decode(&again).expect("an encoded entry decodes");
        assert_eq!(decoded_seq, seq);
        assert_eq!(encode(&decoded, decoded_seq), again);
    }
});
