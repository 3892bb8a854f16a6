//! The scanner against serde_json's grammar, and the tree it records.

use super::*;

fn valid(text: &str) -> bool {
    scan(text.as_bytes(), &mut Vec::new()).is_ok()
}

#[test]
fn accepts_what_serde_json_accepts() {
    for text in [
        r#"{}"#,
        r#"[]"#,
        r#" {"a": [1, -2.5e+3, true, false, null, "x\"y\\z\u00e9\ud83d\ude00"]} "#,
        r#""plain""#,
        r#"0"#,
        r#"-0.0E-1"#,
        "{\"k\":\"caf\u{e9}\"}",
    ] {
        assert!(valid(text), "{text}");
        assert!(serde_json::from_str::<serde_json::Value>(text).is_ok());
    }
}

#[test]
fn rejects_what_serde_json_rejects() {
    for text in [
        "",
        "{",
        r#"{"a" 1}"#,
        r#"{"a":1,}"#,
        r#"[1,]"#,
        r#"01"#,
        r#"1."#,
        r#"-"#,
        r#"{"a":1} x"#,
        "\"tab\there\"",
        r#""\x""#,
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\u12""#,
        r#"tru"#,
        r#"{'a':1}"#,
    ] {
        assert!(!valid(text), "{text}");
        assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
    }
    assert!(scan(b"\"\xff\"", &mut Vec::new()).is_err());
}

#[test]
fn nesting_beyond_the_limit_is_rejected_not_overflowed() {
    let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    assert_eq!(
        scan(deep.as_bytes(), &mut Vec::new()),
        Err(ScanError::TooDeep)
    );
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(valid(&ok));
}

#[test]
fn nodes_describe_the_tree() {
    let text = br#"{"a":[1,"b"],"c":{}}"#;
    let mut nodes = Vec::new();
    scan(text, &mut nodes).unwrap();
    let kinds: Vec<NodeKind> = nodes.iter().map(|n| n.kind).collect();
    use NodeKind::*;
    assert_eq!(
        kinds,
        [Object, String, Array, Scalar, String, String, Object]
    );
    assert_eq!(nodes[0].next as usize, nodes.len());
    assert_eq!(nodes[2].next, 5);
    assert_eq!(&text[nodes[4].span()], br#""b""#);
}

proptest::proptest! {
    /// Strings of any bytes, short and long, plain or not, alone and as
    /// keys and values: the scanner accepts exactly what serde_json does.
    #[test]
    fn strings_are_judged_as_serde_json_judges_them(
        raw in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::num::u8::ANY,
                proptest::sample::select(b"\"\\aZ09 u\xc3\xa9\x1f\x7f".to_vec()),
            ],
            0..48,
        )
    ) {
        let mut quoted = vec![b'"'];
        quoted.extend_from_slice(&raw);
        quoted.push(b'"');
        let mut member = b"{".to_vec();
        member.extend_from_slice(&quoted);
        member.extend_from_slice(b":");
        member.extend_from_slice(&quoted);
        member.extend_from_slice(b"}");
        for text in [&quoted, &member] {
            let ours = scan(text, &mut Vec::new()).is_ok();
            let theirs = serde_json::from_slice::<serde_json::Value>(text).is_ok();
            proptest::prop_assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(text));
        }
    }

    /// Plain text with one byte of any value at any place, as one value
    /// and followed by more members: every position of a word-at-a-time
    /// look (and past it) meets every kind of byte. Judged as serde_json
    /// judges it, and a string accepted ends where it does.
    #[test]
    fn one_unusual_byte_anywhere_in_plain_text_is_found(
        length in 0usize..80,
        place in 0usize..80,
        byte in proptest::num::u8::ANY,
    ) {
        let mut raw = vec![b'a'; length];
        if place < length {
            raw[place] = byte;
        }
        let mut text = b"{\"k\":\"".to_vec();
        text.extend_from_slice(&raw);
        text.extend_from_slice(b"\",\"n\":1}");
        let mut nodes = Vec::new();
        let ours = scan(&text, &mut nodes).is_ok();
        let theirs = serde_json::from_slice::<serde_json::Value>(&text).is_ok();
        proptest::prop_assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&text));
        if ours && byte != b'"' {
            proptest::prop_assert_eq!(nodes[2].end as usize, 7 + length);
        }
    }
}
