//! Request facts on arbitrary bodies and paths: never panics, never loses
//! the body, and agrees with serde_json on what is a JSON object.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use llm_layers_core::{ApiKind, RequestFacts};

const PATHS: [&str; 6] = [
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/messages",
    "/v1beta/models/gemini-2.0-flash:generateContent",
    "/v1/other",
];

fuzz_target!(|input: (u8, &[u8])| {
    let (path, body) = input;
    let path = PATHS[path as usize % PATHS.len()];
    let (parts, ()) = http::Request::post(path).body(()).unwrap().into_parts();
    let facts = RequestFacts::from_parts(&parts, Bytes::copy_from_slice(body));
    assert_eq!(facts.body().as_ref(), body);
    let parsed = serde_json::from_slice::<serde_json::Value>(body);
    if let Ok(value) = &parsed {
        if value.is_object() && path != "/v1/other" {
            assert_ne!(facts.kind(), ApiKind::Unknown, "valid object rejected");
        }
    }
    if facts.kind() != ApiKind::Unknown {
        assert!(facts.canonical_key().is_some());
        // Only number-range differences, and serde_json's magic raw-value
        // member name (`$serde_json::private::RawValue`, special with its
        // `raw_value` feature, whatever error it then gives), may make
        // serde_json reject what we accept.
        let magic = memchr::memmem::find(body, b"$serde_json::private::RawValue").is_some();
        if let (Err(error), false) = (parsed, magic) {
            let error = error.to_string();
            assert!(error.contains("number out of range"), "{error}");
        }
    }
});
