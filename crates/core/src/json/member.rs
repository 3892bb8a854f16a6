//! Finding one member of a JSON document's top-level object without parsing
//! the whole document.
//!
//! A response body is mostly generated text; its usage is a small object at
//! one end. [`top_level_member_with`] finds `"name":` with a byte search, reads
//! the value that follows, and proves the member belongs to the top-level
//! object by parsing the shorter side of the document around it (the part
//! before the member, closed with `}`, or the part after it, opened with
//! `{`): a member nested deeper leaves that side unbalanced. An escaped
//! quote before the name, or any doubt, gives `None`, and callers fall back
//! to a full parse.

use std::cell::RefCell;

use crate::json::scan::{is_valid, value_prefix, NoTape};
use crate::json::{whitespace, with_scratch};
use memchr::memmem::Finder;

thread_local! {
    /// Scratch space for the side documents, reused on each thread.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The string value of the top-level member whose quoted name `needle`
/// finds (e.g. `Finder::new(b"\"model\"")`). `None` when the first such
/// member is not provably top-level or is not a string.
pub(crate) fn top_level_string(body: &[u8], needle: &Finder<'_>) -> Option<String> {
    top_level_member_with(body, needle, |value| {
        let length = value_prefix(value, &mut NoTape).ok()?;
        let quoted = &value[..length];
        let inner = quoted.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        let text = match memchr::memchr(b'\\', inner) {
            // Validated by the scan: plain UTF-8 between the quotes.
            None => std::str::from_utf8(inner).ok()?.to_owned(),
            Some(_) => serde_json::from_slice(quoted).ok()?,
        };
        Some((text, length))
    })
}

/// The value of the top-level member whose quoted name `needle` finds
/// (e.g. `Finder::new(b"\"usage\"")`), read by `read`, which gets the
/// bytes from the value's start to the end of the body and returns what it
/// read and how many bytes the value took.
pub(crate) fn top_level_member_with<'a, T>(
    body: &'a [u8],
    needle: &Finder<'_>,
    read: impl FnOnce(&'a [u8]) -> Option<(T, usize)>,
) -> Option<T> {
    let (name_at, value_at) = first_member_position(body, needle)?;
    let (value, length) = read(&body[value_at..])?;
    let end = value_at + length;
    let belongs = if name_at < body.len() - end {
        leading_is_open_object(&body[..name_at])
    } else {
        trailing_closes_object(&body[end..])
    };
    belongs.then_some(value)
}

/// Where the first `"name":` outside an escape starts, and where its value
/// starts.
fn first_member_position(body: &[u8], needle: &Finder<'_>) -> Option<(usize, usize)> {
    let name_len = needle.needle().len();
    for at in needle.find_iter(body) {
        if at == 0 || body[at - 1] == b'\\' {
            continue;
        }
        let mut cursor = at + name_len;
        cursor += whitespace(&body[cursor..]);
        if body.get(cursor) != Some(&b':') {
            continue;
        }
        cursor += 1;
        cursor += whitespace(&body[cursor..]);
        return Some((at, cursor));
    }
    None
}

/// `{"a":1,` (the start of the top-level object, up to a member).
fn leading_is_open_object(leading: &[u8]) -> bool {
    is_json(&[leading, b"\"_\":0}"])
}

/// `,"b":2}` (the rest of the top-level object after a member).
fn trailing_closes_object(trailing: &[u8]) -> bool {
    if trailing
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'}'))
        && trailing.iter().filter(|&&b| b == b'}').count() == 1
    {
        return true;
    }
    is_json(&[b"{\"_\":0", trailing])
}

fn is_json(parts: &[&[u8]]) -> bool {
    with_scratch(&SCRATCH, |document| {
        document.clear();
        parts
            .iter()
            .for_each(|part| document.extend_from_slice(part));
        let valid = is_valid(document);
        if document.capacity() > 64 << 10 {
            *document = Vec::new();
        }
        valid
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(body: &str, name: &str) -> Option<String> {
        let needle = format!("\"{name}\"");
        top_level_member_with(body.as_bytes(), &Finder::new(needle.as_bytes()), |value| {
            let length = value_prefix(value, &mut NoTape).ok()?;
            Some((String::from_utf8(value[..length].to_vec()).ok()?, length))
        })
    }

    #[test]
    fn strings_are_read_with_or_without_escapes() {
        let model = Finder::new(b"\"model\"");
        let read = |body: &str| top_level_string(body.as_bytes(), &model);
        assert_eq!(
            read(r#"{"model":"gpt-4o","x":1}"#).as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(
            read(r#"{"model":"a\"b\u00e9"}"#).as_deref(),
            Some("a\"b\u{e9}")
        );
        assert_eq!(read(r#"{"model":7}"#), None);
    }

    #[test]
    fn finds_top_level_members_at_either_end() {
        let body =
            r#"{"id":"x","model":"m","choices":[{"text":"long"}],"usage":{"a":1},"tier":"d"}"#;
        assert_eq!(member(body, "usage").as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(member(body, "model").as_deref(), Some(r#""m""#));
    }

    #[test]
    fn skips_nested_and_quoted_lookalikes() {
        let nested = r#"{"content":[{"input":{"usage":{"x":1}}}],"usage":{"a":1}}"#;
        assert_eq!(
            member(nested, "usage").as_deref(),
            None,
            "first match is nested: fall back"
        );
        let only_nested = r#"{"usage_x":1,"content":{"usage":{"x":1}}}"#;
        assert_eq!(member(only_nested, "usage"), None);
        let in_string = r#"{"text":"say \"usage\": {\"a\":1}","n":1}"#;
        assert_eq!(member(in_string, "usage"), None);
        let escaped_key = r#"{"x \"usage":{"a":1}}"#;
        assert_eq!(member(escaped_key, "usage"), None);
        assert_eq!(member("{\"usage\":", "usage"), None);
    }
}
