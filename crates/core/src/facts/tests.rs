//! Request facts: kinds, models, keys, partitions, rewrites.

use super::*;

fn facts(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> RequestFacts {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    RequestFacts::from_parts(&parts, Bytes::from(body.to_owned()))
}

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn chat_request_facts() {
    let f = facts("POST", "http://api.test/v1/chat/completions", &[], CHAT);
    assert_eq!(f.kind(), ApiKind::OpenAiChat);
    assert_eq!(f.provider(), Provider::OpenAi);
    assert_eq!(f.model(), Some("gpt-4o-mini"));
    assert!(!f.stream());
    assert!(f.is_understood());
    assert_eq!(f.target(), "api.test/v1/chat/completions");
    assert_eq!(f.json().unwrap()["model"], "gpt-4o-mini");
}

#[test]
fn escaped_model_names_are_decoded() {
    let f = facts(
        "POST",
        "/v1/messages",
        &[],
        r#"{"model":"claude-\u0033","stream":true,"max_tokens":5,"messages":[]}"#,
    );
    assert_eq!(f.kind(), ApiKind::AnthropicMessages);
    assert_eq!(f.model(), Some("claude-3"));
    assert!(f.stream());
}

#[test]
fn gemini_model_and_stream_come_from_the_path() {
    let f = facts(
        "POST",
        "https://g.test/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=SECRET",
        &[],
        r#"{"contents":[]}"#,
    );
    assert_eq!(f.kind(), ApiKind::GeminiGenerateContent);
    assert_eq!(f.model(), Some("gemini-2.0-flash"));
    assert!(f.stream());
    assert!(f.credential().is_some());
    assert!(!f.target().contains("SECRET"));
}

#[test]
fn bad_bodies_are_opaque_and_unknown() {
    for (body, reason) in [
        ("{not json", Opaque::NotJson),
        ("[1,2]", Opaque::NotObject),
        ("\u{0}", Opaque::NotJson),
    ] {
        let f = facts("POST", "/v1/chat/completions", &[], body);
        assert_eq!(f.kind(), ApiKind::Unknown);
        assert_eq!(f.opaque_reason(), Some(reason));
        assert_eq!(f.canonical_key(), None);
        assert!(!f.is_understood());
        assert_eq!(f.body().as_ref(), body.as_bytes());
    }
    let missing_model = facts("POST", "/v1/chat/completions", &[], r#"{"messages":[]}"#);
    assert_eq!(missing_model.kind(), ApiKind::OpenAiChat);
    assert!(!missing_model.is_understood());
}

#[test]
fn key_ignores_key_order_whitespace_and_excluded_fields() {
    let a = facts("POST", "http://h/v1/chat/completions", &[], CHAT);
    let b = facts(
        "POST",
        "http://h/v1/chat/completions",
        &[],
        r#"{ "messages": [ {"content":"hi", "role":"user"} ], "user": "u-42", "model": "gpt-4o-mini" }"#,
    );
    assert_eq!(a.canonical_key(), b.canonical_key());
}

#[test]
fn key_changes_with_every_part_of_the_request() {
    let base = facts("POST", "http://h/v1/chat/completions", &[], CHAT).canonical_key();
    let changed = [
        facts(
            "POST",
            "http://h/v1/chat/completions",
            &[],
            &CHAT.replace("hi", "ho"),
        ),
        facts("POST", "http://other/v1/chat/completions", &[], CHAT),
        facts("POST", "http://h/v1/chat/completions?x=1", &[], CHAT),
        facts(
            "POST",
            "http://h/v1/chat/completions",
            &[("anthropic-version", "2023-06-01")],
            CHAT,
        ),
        facts(
            "POST",
            "http://h/v1/chat/completions",
            &[("authorization", "Bearer a")],
            CHAT,
        ),
        facts(
            "POST",
            "http://h/v1/chat/completions",
            &[],
            &CHAT.replace("}]}", r#"}],"new_param":1}"#),
        ),
        facts(
            "POST",
            "http://h/v1/chat/completions",
            &[],
            &CHAT.replace("}]}", r#"}],"stream":true}"#),
        ),
    ];
    for other in changed {
        assert_ne!(other.canonical_key(), base, "{}", other.target());
    }
}

#[test]
fn key_without_credential_is_shared_across_credentials() {
    let a = facts(
        "POST",
        "http://h/v1/chat/completions",
        &[("authorization", "Bearer a")],
        CHAT,
    );
    let b = facts(
        "POST",
        "http://h/v1/chat/completions",
        &[("authorization", "Bearer b")],
        CHAT,
    );
    assert_ne!(a.canonical_key(), b.canonical_key());
    assert_eq!(a.key_without_credential(), b.key_without_credential());
}

#[test]
fn responses_api_keeps_echoed_fields_in_the_key() {
    let a = facts(
        "POST",
        "/v1/responses",
        &[],
        r#"{"model":"m","input":"x","user":"a"}"#,
    );
    let b = facts(
        "POST",
        "/v1/responses",
        &[],
        r#"{"model":"m","input":"x","user":"b"}"#,
    );
    assert_ne!(a.canonical_key(), b.canonical_key());
}

/// A repeated request takes its body's facts from the memo: they must be
/// those of its first time, and its key still carries its own credential
/// and target.
#[test]
fn a_repeated_request_has_the_facts_of_its_first() {
    let body =
        r#"{"model":"gpt-\u0034o","stream":true,"messages":[{"role":"user","content":"again"}]}"#;
    let owner = [("authorization", "Bearer owner")];
    let first = facts("POST", "http://h/v1/chat/completions", &owner, body);
    let again = facts("POST", "http://h/v1/chat/completions", &owner, body);
    assert_eq!(again.canonical_key(), first.canonical_key());
    assert_eq!((again.model(), again.stream()), (Some("gpt-4o"), true));
    assert_eq!(again.model(), first.model());
    let other = facts(
        "POST",
        "http://h/v1/chat/completions",
        &[("authorization", "Bearer other")],
        body,
    );
    assert_ne!(other.canonical_key(), first.canonical_key());
    assert_eq!(
        other.key_without_credential(),
        first.key_without_credential()
    );
    let elsewhere = facts("POST", "http://h/v1/other/chat/completions", &owner, body);
    assert_ne!(elsewhere.canonical_key(), first.canonical_key());
}
