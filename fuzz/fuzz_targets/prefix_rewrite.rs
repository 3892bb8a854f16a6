//! The prompt-prefix rewrite on arbitrary bodies: never panics, and what it
//! sends is a JSON object with the caller's top-level members (it only adds
//! `prompt_cache_key`, `input` or Gemini's `contents`), at most four Anthropic breakpoints
//! unless the caller had more, and, when every `<dynamic>` marker has its
//! `</dynamic>` in the same text, the same prefix after a second rewrite.
//! (Markers left unpaired in separate texts can still pair up in the moved
//! tail on a second pass; RELIABILITY.md says so.)
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use llm_layers_core::RequestFacts;
use llm_layers_prefix::PromptPrefixLayer;
use serde_json::Value;

const PATHS: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/messages",
    "/v1beta/models/gemini-2.5-flash:generateContent",
];

fn breakpoints(value: &Value) -> usize {
    match value {
        Value::Object(map) => {
            usize::from(map.contains_key("cache_control"))
                + map.values().map(breakpoints).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(breakpoints).sum(),
        _ => 0,
    }
}

/// Whether, in every string of the body on its own, taking out innermost
/// `<dynamic>…</dynamic>` pairs again and again leaves no marker.
fn markers_pair_up(value: &Value) -> bool {
    match value {
        Value::String(text) => {
            let mut text = text.clone();
            while let Some(close) = text.find("</dynamic>") {
                let Some(open) = text[..close].rfind("<dynamic>") else {
                    return false;
                };
                text.replace_range(open..close + "</dynamic>".len(), "");
            }
            !text.contains("<dynamic>")
        }
        Value::Array(items) => items.iter().all(markers_pair_up),
        Value::Object(map) => map.values().all(markers_pair_up),
        _ => true,
    }
}

fuzz_target!(|input: (u8, &[u8])| {
    thread_local! {
        static LAYER: PromptPrefixLayer = PromptPrefixLayer::default();
    }
    let (path, body) = input;
    let path = PATHS[path as usize % PATHS.len()];
    let (parts, ()) = http::Request::post(path).body(()).unwrap().into_parts();
    let facts = RequestFacts::from_parts(&parts, Bytes::copy_from_slice(body));
    let Some(rewritten) = LAYER.with(|layer| layer.rewrite(&facts, None)) else {
        return;
    };
    let Some(sent) = rewritten.body else {
        assert!(!rewritten.report.rewrites.any());
        return;
    };
    let before: Value = serde_json::from_slice(body).unwrap();
    let after: Value = serde_json::from_slice(&sent).expect("the rewrite is JSON");
    let (before, after) = (before.as_object().unwrap(), after.as_object().unwrap());
    for key in before.keys() {
        assert!(after.contains_key(key), "{key} lost");
    }
    for key in after.keys() {
        assert!(
            before.contains_key(key)
                || key == "prompt_cache_key"
                || key == "input"
                || key == "contents",
            "{key} added"
        );
    }
    let had = breakpoints(&Value::Object(before.clone()));
    assert!(breakpoints(&Value::Object(after.clone())) <= had.max(4));
    if !markers_pair_up(&Value::Object(before.clone())) {
        return;
    }
    // A repaired request needs no second repair of its volatile text.
    let again = RequestFacts::from_parts(&parts, sent);
    let second = LAYER.with(|layer| layer.rewrite(&again, None)).unwrap();
    assert_eq!(second.report.fingerprint, rewritten.report.fingerprint);
});
