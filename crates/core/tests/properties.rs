//! Property tests: SSE framing survives any split, and the canonical key
//! ignores key order and whitespace but no change of value.

use bytes::Bytes;
use llm_layers_core::{ApiKind, RequestFacts, SseEvent, SseParser};
use proptest::prelude::*;
use serde_json::Value;

// ---------------------------------------------------------------- SSE

#[derive(Clone, Debug)]
struct WireEvent {
    name: Option<String>,
    data_lines: Vec<String>,
    comment: Option<String>,
}

fn wire_event() -> impl Strategy<Value = WireEvent> {
    (
        proptest::option::of("[a-z_.]{1,12}"),
        proptest::collection::vec("[^\r\n]{0,20}", 1..4),
        proptest::option::of("[^\r\n]{0,10}"),
    )
        .prop_map(|(name, data_lines, comment)| WireEvent {
            name,
            data_lines,
            comment,
        })
}

fn serialise(events: &[WireEvent], newline: &str) -> Vec<u8> {
    let mut out = String::new();
    for event in events {
        if let Some(comment) = &event.comment {
            out.push_str(&format!(":{comment}{newline}"));
        }
        if let Some(name) = &event.name {
            out.push_str(&format!("event: {name}{newline}"));
        }
        for line in &event.data_lines {
            out.push_str(&format!("data: {line}{newline}"));
        }
        out.push_str(newline);
    }
    out.into_bytes()
}

fn parse_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts {
        parser.feed(&bytes[start..cut], |e| events.push(e.clone()));
        start = cut;
    }
    parser.feed(&bytes[start..], |e| events.push(e.clone()));
    events
}

proptest! {
    #[test]
    fn any_split_of_an_sse_stream_gives_the_same_events(
        events in proptest::collection::vec(wire_event(), 1..8),
        newline in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let bytes = serialise(&events, newline);
        let parsed = parse_in_pieces(&bytes, &cuts);
        prop_assert_eq!(parsed.len(), events.len());
        for (got, sent) in parsed.iter().zip(&events) {
            prop_assert_eq!(&got.event, &sent.name);
            // A leading space after "data:" is the separator, not content.
            let expected: Vec<&str> = sent.data_lines.iter().map(|l| l.as_str()).collect();
            prop_assert_eq!(got.data.clone(), expected.join("\n"));
        }
    }

    #[test]
    fn the_sse_parser_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let _ = parse_in_pieces(&bytes, &cuts);
    }
}

// ---------------------------------------------------------------- canonical key

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[^\"]{0,12}".prop_map(Value::String),
        "\\PC{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A tiny deterministic generator for shuffles and whitespace.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn space(&mut self) -> &'static str {
        [" ", "", "\n", "\t ", "", "\r\n  "][(self.next() % 6) as usize]
    }
}

/// Writes `value` with object members in a shuffled order and random
/// insignificant whitespace.
fn write_shuffled(value: &Value, dice: &mut Dice, out: &mut String) {
    out.push_str(dice.space());
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            for i in (1..members.len()).rev() {
                let j = (dice.next() % (i as u64 + 1)) as usize;
                members.swap(i, j);
            }
            out.push('{');
            for (index, (key, member)) in members.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(dice.space());
                out.push_str(&serde_json::to_string(key).unwrap());
                out.push_str(dice.space());
                out.push(':');
                write_shuffled(member, dice, out);
            }
            out.push_str(dice.space());
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_shuffled(item, dice, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
    }
    out.push_str(dice.space());
}

/// Changes the `n`th leaf (in document order, wrapping) to another value.
fn mutate_leaf(value: &mut Value, n: &mut usize) -> bool {
    match value {
        Value::Object(map) => map.values_mut().any(|v| mutate_leaf(v, n)),
        Value::Array(items) => items.iter_mut().any(|v| mutate_leaf(v, n)),
        leaf => {
            if *n > 0 {
                *n -= 1;
                return false;
            }
            *leaf = match leaf.take() {
                Value::Null => Value::from(0),
                Value::Bool(b) => Value::Bool(!b),
                Value::Number(number) => match number.as_i64() {
                    Some(i) => Value::from(i.wrapping_add(1)),
                    None => Value::from(number.as_f64().unwrap_or(0.0) + 1.5),
                },
                Value::String(mut s) => {
                    s.push('x');
                    Value::String(s)
                }
                other => other,
            };
            true
        }
    }
}

fn key_of(body: &str) -> Option<llm_layers_core::CanonicalKey> {
    let (parts, ()) = http::Request::post("https://api.test/v1/chat/completions")
        .body(())
        .unwrap()
        .into_parts();
    RequestFacts::from_parts(&parts, Bytes::from(body.to_owned())).canonical_key()
}

fn request_body(payload: &Value) -> Value {
    serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "payload": payload})
}

proptest! {
    #[test]
    fn key_order_and_whitespace_never_change_the_key(value in json_value(), seed in 1u64..) {
        let body = request_body(&value);
        let compact = serde_json::to_string(&body).unwrap();
        let mut shuffled = String::new();
        write_shuffled(&body, &mut Dice(seed), &mut shuffled);
        prop_assert!(key_of(&compact).is_some());
        prop_assert_eq!(key_of(&compact), key_of(&shuffled), "{} vs {}", compact, shuffled);
    }

    #[test]
    fn any_changed_value_changes_the_key(value in json_value(), leaf in any::<usize>(), seed in 1u64..) {
        let original = request_body(&value);
        let mut changed = original.clone();
        let leaves = count_leaves(&changed);
        let mut n = leaf % leaves;
        prop_assert!(mutate_leaf(&mut changed, &mut n));
        let mut shuffled = String::new();
        write_shuffled(&changed, &mut Dice(seed), &mut shuffled);
        prop_assert_ne!(key_of(&original.to_string()), key_of(&shuffled));
    }

    #[test]
    fn facts_never_panic_and_agree_with_serde_json_on_validity(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let (parts, ()) = http::Request::post("/v1/chat/completions").body(()).unwrap().into_parts();
        let facts = RequestFacts::from_parts(&parts, Bytes::from(bytes.clone()));
        let is_object = serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| v.is_object());
        prop_assert_eq!(facts.kind() == ApiKind::OpenAiChat, is_object);
        prop_assert_eq!(facts.body().as_ref(), &bytes[..]);
    }
}

fn count_leaves(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.values().map(count_leaves).sum(),
        Value::Array(items) => items.iter().map(count_leaves).sum(),
        _ => 1,
    }
}

/// Keys are persisted (disk and Redis stores), so the canonical form must
/// not drift between releases or with `serde_json` features switched on by
/// other crates. Changing this value changes the key's format: raise
/// `KEY_FORMAT_VERSION` with it (old entries then miss and age out).
#[test]
fn canonical_key_is_stable_across_releases() {
    let body =
        r#"{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o","temperature":0.5}"#;
    let reordered = r#"{ "temperature": 0.5, "model": "gpt-4o", "messages": [ { "role": "user", "content": "hi" } ] }"#;
    let key = key_of(body).unwrap();
    assert_eq!(key_of(reordered), Some(key));
    assert_eq!(key.to_hex(), PINNED_KEY);
    assert_eq!(key.format_version(), llm_layers_core::KEY_FORMAT_VERSION);
    assert_eq!(llm_layers_core::KEY_FORMAT_VERSION, 2);
}

/// Key format 2; format 1 gave this body
/// `6f0d0d6e2c250496a91cfa8f5f8a3396a7c73f40d4b4da12a7e5b81a41483d8b`.
const PINNED_KEY: &str = "02cd4f5c5553d722f6f006b0779fda52f26e6748bda1b55408fdc401c1a25b68";

/// The fields left out of the key are a decision: changing them must be
/// deliberate, so the lists are pinned here.
#[test]
fn key_exclusions_are_pinned() {
    let openai = [
        "metadata",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "user",
    ];
    assert_eq!(ApiKind::OpenAiChat.key_exclusions(), openai);
    assert_eq!(ApiKind::OpenAiCompletions.key_exclusions(), openai);
    assert_eq!(ApiKind::OpenAiEmbeddings.key_exclusions(), openai);
    assert_eq!(ApiKind::AnthropicMessages.key_exclusions(), ["metadata"]);
    assert!(ApiKind::OpenAiResponses.key_exclusions().is_empty());
    assert!(ApiKind::GeminiGenerateContent.key_exclusions().is_empty());
}
