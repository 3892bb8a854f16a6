//! Usage from every provider, plain and streamed.

use super::tracker::{has_object_member, starts_with_error_member, USAGE_MEMBER};
use super::*;
use crate::completeness::{check_plain_answer, check_plain_body};
use crate::sse::SseParser;

fn stream_usage(kind: ApiKind, stream: &str) -> UsageTracker {
    let mut parser = SseParser::new();
    let mut tracker = UsageTracker::new(kind);
    parser.feed(stream.as_bytes(), |event| tracker.observe(event));
    tracker
}

#[test]
fn openai_responses_json() {
    let body = br#"{"model":"gpt-5","usage":{"input_tokens":1500,"input_tokens_details":{"cached_tokens":1024},"output_tokens":80,"output_tokens_details":{"reasoning_tokens":64}}}"#;
    let usage = usage_from_json(ApiKind::OpenAiResponses, body).unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.cache_read_tokens,
            usage.output_tokens,
            usage.reasoning_tokens
        ),
        (1500, 1024, 80, 64)
    );
}

#[test]
fn anthropic_json_counts_cache_tokens_into_input() {
    let body = br#"{"model":"claude-sonnet-4-5","usage":{"input_tokens":50,"cache_creation_input_tokens":2000,"cache_read_input_tokens":1000,"output_tokens":20}}"#;
    let usage = usage_from_json(ApiKind::AnthropicMessages, body).unwrap();
    assert_eq!(usage.input_tokens, 3050);
    assert_eq!(usage.uncached_input_tokens(), 50);
    assert_eq!(usage.cache_write_tokens, 2000);
    assert_eq!(usage.cache_read_tokens, 1000);
}

#[test]
fn embeddings_and_gemini_json() {
    let usage = usage_from_json(
        ApiKind::OpenAiEmbeddings,
        br#"{"model":"text-embedding-3-small","data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#,
    )
    .unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (8, 0));
    let gemini = br#"[{"candidates":[]},{"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"cachedContentTokenCount":4,"thoughtsTokenCount":2},"modelVersion":"gemini-2.0-flash"}]"#;
    let usage = usage_from_json(ApiKind::GeminiGenerateContent, gemini).unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.reasoning_tokens
        ),
        (10, 7, 4, 2)
    );
}

#[test]
fn no_usage_or_bad_json_is_none() {
    assert_eq!(
        usage_from_json(ApiKind::OpenAiChat, br#"{"model":"m"}"#),
        None
    );
    assert_eq!(usage_from_json(ApiKind::OpenAiChat, b"\xff{"), None);
    assert_eq!(usage_from_json(ApiKind::Unknown, br#"{"usage":{}}"#), None);
}

#[test]
fn object_member_check() {
    let usage = &USAGE_MEMBER;
    assert!(has_object_member(br#"{"usage" : {"a":1}}"#, usage));
    assert!(!has_object_member(br#"{"usage":null}"#, usage));
    assert!(!has_object_member(br#"{"text":"usage"}"#, usage));
    assert!(has_object_member(br#"{"x":"\"usage\"","usage":{}}"#, usage));
    assert!(starts_with_error_member(
        br#" { "error": {"message":"boom"}}"#
    ));
    assert!(!starts_with_error_member(br#"{"id":"x","error":null}"#));
}

#[test]
fn token_usage_is_usage_without_the_model() {
    let body = br#"{"model":"gpt-4o","usage":{"prompt_tokens":5,"completion_tokens":1}}"#;
    let mut usage = usage_from_json(ApiKind::OpenAiChat, body).unwrap();
    assert_eq!(usage.model.take().as_deref(), Some("gpt-4o"));
    assert_eq!(
        token_usage_from_json(ApiKind::OpenAiChat, body),
        Some(usage)
    );
}

#[test]
fn openai_stream_usage_comes_in_the_last_chunk() {
    let tracker = stream_usage(
        ApiKind::OpenAiChat,
        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
         data: {\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n\
         data: [DONE]\n\n",
    );
    assert_eq!(tracker.completion(), StreamCompletion::Completed);
    let usage = tracker.usage().unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (9, 2));
}

#[test]
fn anthropic_stream_usage_merges_start_and_delta() {
    let tracker = stream_usage(
        ApiKind::AnthropicMessages,
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":2048,\"cache_creation_input_tokens\":0,\"output_tokens\":1}}}\n\n\
         event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\n\
         event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":42}}\n\n\
         event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    assert_eq!(tracker.completion(), StreamCompletion::Completed);
    let usage = tracker.usage().unwrap();
    assert_eq!(usage.input_tokens, 2060);
    assert_eq!(usage.cache_read_tokens, 2048);
    assert_eq!(usage.output_tokens, 42);
    assert_eq!(usage.model.as_deref(), Some("claude-haiku-4-5"));
}

#[test]
fn responses_stream_and_errors() {
    let tracker = stream_usage(
        ApiKind::OpenAiResponses,
        "event: response.output_text.delta\ndata: {\"delta\":\"x\"}\n\n\
         event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
    );
    assert_eq!(tracker.completion(), StreamCompletion::Completed);
    assert_eq!(tracker.usage().unwrap().input_tokens, 3);
    let failed = stream_usage(
        ApiKind::OpenAiChat,
        "data: {\"error\":{\"message\":\"boom\"}}\n\n",
    );
    assert_eq!(failed.completion(), StreamCompletion::Failed);
    let anthropic = stream_usage(
        ApiKind::AnthropicMessages,
        "event: error\ndata: {\"type\":\"error\"}\n\n",
    );
    assert_eq!(anthropic.completion(), StreamCompletion::Failed);
}

#[test]
fn a_failure_is_final_and_gemini_ends_with_a_finish_reason() {
    let failed_then_done = stream_usage(
        ApiKind::OpenAiChat,
        "data: {\"error\":{\"message\":\"boom\"}}\n\ndata: [DONE]\n\n",
    );
    assert_eq!(failed_then_done.completion(), StreamCompletion::Failed);
    let gemini_open = stream_usage(
        ApiKind::GeminiGenerateContent,
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\n\n",
    );
    assert_eq!(gemini_open.completion(), StreamCompletion::Open);
    let gemini_done = stream_usage(
        ApiKind::GeminiGenerateContent,
        "data: {\"candidates\":[{\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":2}}\n\n",
    );
    assert_eq!(gemini_done.completion(), StreamCompletion::Completed);
}

mod fast_path_agrees_with_full_parse {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Random JSON in which objects often carry `usage` and `model` keys,
    /// to tempt the member search into nested lookalikes.
    fn tempting() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<u32>().prop_map(Value::from),
            "[a-z \"usage:{}]{0,12}".prop_map(Value::String),
            Just(json!({"prompt_tokens": 7, "completion_tokens": 9})),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("usage".to_owned()),
                        Just("model".to_owned()),
                        "[a-z]{1,5}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A count as providers send it, or something the reader must not
    /// take for one.
    fn count() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => any::<u32>().prop_map(Value::from),
            1 => Just(json!(u64::MAX)),
            1 => Just(Value::Null),
            1 => Just(json!(-3)),
            1 => Just(json!(2.5)),
            1 => Just(json!("12")),
        ]
    }

    /// Usage objects with known and unknown members, nested details,
    /// and odd values.
    fn usage_object() -> impl Strategy<Value = Value> {
        let names = prop_oneof![
            Just("prompt_tokens"),
            Just("completion_tokens"),
            Just("input_tokens"),
            Just("output_tokens"),
            Just("cache_creation_input_tokens"),
            Just("cache_read_input_tokens"),
            Just("total_tokens"),
            Just("service_tier"),
        ];
        let details = prop_oneof![
            Just("prompt_tokens_details"),
            Just("input_tokens_details"),
            Just("completion_tokens_details"),
            Just("output_tokens_details"),
        ];
        let detail_body = proptest::collection::btree_map(
            prop_oneof![
                Just("cached_tokens"),
                Just("reasoning_tokens"),
                Just("audio_tokens")
            ],
            count(),
            0..3,
        )
        .prop_map(|m| json!(m));
        (
            proptest::collection::btree_map(names, count(), 0..7),
            proptest::collection::btree_map(
                details,
                prop_oneof![4 => detail_body, 1 => Just(Value::Null)],
                0..3,
            ),
            tempting(),
        )
            .prop_map(|(counts, details, extra)| {
                let mut object = serde_json::Map::new();
                for (k, v) in counts {
                    object.insert(k.to_owned(), v);
                }
                for (k, v) in details {
                    object.insert(k.to_owned(), v);
                }
                object.insert("extra".to_owned(), extra);
                Value::Object(object)
            })
    }

    proptest! {
        #[test]
        fn whenever_the_fast_path_answers_it_agrees(
            before in tempting(),
            after in tempting(),
            usage in usage_object(),
            usage_first in any::<bool>(),
            kind in prop_oneof![Just(ApiKind::OpenAiChat), Just(ApiKind::AnthropicMessages), Just(ApiKind::OpenAiResponses)],
        ) {
            let members = [
                ("\"before\"", before.to_string()),
                ("\"usage\"", usage.to_string()),
                ("\"model\"", "\"m-1\"".to_owned()),
                ("\"after\"", after.to_string()),
            ];
            let mut order: Vec<usize> = vec![0, 1, 2, 3];
            if usage_first {
                order.swap(0, 1);
            }
            let body = format!(
                "{{{}}}",
                order.iter().map(|&i| format!("{}:{}", members[i].0, members[i].1)).collect::<Vec<_>>().join(",")
            );
            let full = usage_from_full_parse(kind, body.as_bytes());
            if let Some(fast) = usage_from_members(kind, body.as_bytes(), true) {
                prop_assert_eq!(Some(fast), full, "{}", body);
            }
            prop_assert_eq!(usage_from_json(kind, body.as_bytes()), usage_from_full_parse(kind, body.as_bytes()));
        }

        /// The completeness check's one reading finds what the usage
        /// reader finds on its own, whatever the document: usage first,
        /// last, twice, absent, nested lookalikes, an escaped key, a root
        /// that is not an object, a cut body.
        #[test]
        fn the_checked_answer_reads_what_the_usage_reader_reads(
            before in tempting(),
            after in tempting(),
            usage in usage_object(),
            second in usage_object(),
            shape in 0..8u8,
            cut in any::<prop::sample::Index>(),
            kind in prop_oneof![
                Just(ApiKind::OpenAiChat),
                Just(ApiKind::AnthropicMessages),
                Just(ApiKind::OpenAiResponses),
                Just(ApiKind::OpenAiEmbeddings),
                Just(ApiKind::GeminiGenerateContent),
            ],
        ) {
            let (before, after, usage, second) =
                (before.to_string(), after.to_string(), usage.to_string(), second.to_string());
            let body = match shape {
                0 => format!(r#"{{"before":{before},"usage":{usage},"after":{after}}}"#),
                1 => format!(r#"{{ "usage" : {usage} , "after":{after}}}"#),
                2 => format!(r#"{{"before":{before},"after":{after}}}"#),
                3 => format!(r#"{{"before":{before},"usage":{usage},"usage":{second}}}"#),
                4 => format!(r#"{{"before":{before},"\u0075sage":{usage}}}"#),
                5 => format!(r#"[{before},{{"usage":{usage}}}]"#),
                6 => format!(r#"{{"usage":null,"after":{after}}}"#),
                _ => format!(r#"{{"usageMetadata":{{"promptTokenCount":3}},"usage":{usage}}}"#),
            };
            for body in [body.as_bytes(), &body.as_bytes()[..cut.index(body.len())]] {
                let alone = check_plain_body(body, None).map(|()| token_usage_from_json(kind, body));
                prop_assert_eq!(check_plain_answer(body, None, kind), alone, "{}", String::from_utf8_lossy(body));
            }
        }
    }
}
