//! A small reader for provider `usage` objects: integer members and the
//! integer members of `*_details` objects, nothing else.
//!
//! serde's derived deserializer validates and decodes every key it meets,
//! which costs more than the rest of a metrics layer's work on a response;
//! this reader walks the crate's JSON scan of the object and compares raw
//! key bytes instead. It gives up (`None`) on anything it does not fully
//! understand (an escaped key, a `null`, a negative or fractional count, a
//! number too large, a repeated key, a malformed value) and the caller then
//! falls back to serde, so its answer is always the one serde would give (a
//! property test checks this).

use std::cell::RefCell;

use crate::json::scan::{members, value_prefix, Node, NodeKind};
use crate::json::with_scratch;

thread_local! {
    /// The scanned usage object's nodes, reused on each thread.
    static NODES: RefCell<Vec<Node>> = const { RefCell::new(Vec::new()) };
}

/// The counts a usage object may carry, by member name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenCounts {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
    /// `prompt_tokens_details.cached_tokens`
    pub prompt_cached_tokens: Option<u64>,
    /// `input_tokens_details.cached_tokens`
    pub input_cached_tokens: Option<u64>,
    /// `completion_tokens_details.reasoning_tokens`
    pub completion_reasoning_tokens: Option<u64>,
    /// `output_tokens_details.reasoning_tokens`
    pub output_reasoning_tokens: Option<u64>,
    /// Which `*_details` objects were present.
    pub prompt_details: bool,
    pub input_details: bool,
    pub completion_details: bool,
    pub output_details: bool,
}

/// Reads the usage object at the start of `input`; returns the counts and
/// the object's length in bytes.
pub(crate) fn read_token_counts(input: &[u8]) -> Option<(TokenCounts, usize)> {
    with_scratch(&NODES, |nodes| {
        nodes.clear();
        let length = value_prefix(input, nodes).ok()?;
        let counts = Usage { input, nodes }.counts()?;
        if nodes.capacity() > 4096 {
            *nodes = Vec::new();
        }
        Some((counts, length))
    })
}

/// A scanned usage object.
struct Usage<'a> {
    input: &'a [u8],
    nodes: &'a [Node],
}

impl Usage<'_> {
    fn counts(&self) -> Option<TokenCounts> {
        let mut counts = TokenCounts::default();
        self.object(0)?;
        for (key, value) in members(self.nodes, 0) {
            let slot = match self.key(key)? {
                b"prompt_tokens" => &mut counts.prompt_tokens,
                b"completion_tokens" => &mut counts.completion_tokens,
                b"input_tokens" => &mut counts.input_tokens,
                b"output_tokens" => &mut counts.output_tokens,
                b"cache_creation_input_tokens" => &mut counts.cache_creation_input_tokens,
                b"cache_read_input_tokens" => &mut counts.cache_read_input_tokens,
                b"prompt_tokens_details" => {
                    self.details(
                        value,
                        &mut counts.prompt_details,
                        b"cached_tokens",
                        &mut counts.prompt_cached_tokens,
                    )?;
                    continue;
                }
                b"input_tokens_details" => {
                    self.details(
                        value,
                        &mut counts.input_details,
                        b"cached_tokens",
                        &mut counts.input_cached_tokens,
                    )?;
                    continue;
                }
                b"completion_tokens_details" => {
                    self.details(
                        value,
                        &mut counts.completion_details,
                        b"reasoning_tokens",
                        &mut counts.completion_reasoning_tokens,
                    )?;
                    continue;
                }
                b"output_tokens_details" => {
                    self.details(
                        value,
                        &mut counts.output_details,
                        b"reasoning_tokens",
                        &mut counts.output_reasoning_tokens,
                    )?;
                    continue;
                }
                _ => continue,
            };
            self.count_once(value, slot)?;
        }
        Some(counts)
    }

    fn object(&self, index: usize) -> Option<()> {
        (self.nodes[index].kind == NodeKind::Object).then_some(())
    }

    /// A key without escapes, without its quotes; anything else is left to
    /// serde.
    fn key(&self, index: usize) -> Option<&[u8]> {
        let node = self.nodes[index];
        let span = node.span();
        (!node.escaped).then(|| &self.input[span.start + 1..span.end - 1])
    }

    /// An unsigned integer, stored once.
    fn count_once(&self, index: usize, slot: &mut Option<u64>) -> Option<()> {
        let digits = &self.input[self.nodes[index].span()];
        let plain = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
        if slot.is_some() || !plain || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        let value = digits.iter().try_fold(0u64, |value, &digit| {
            value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        })?;
        *slot = Some(value);
        Some(())
    }

    /// A `*_details` object: one count of interest, the rest skipped.
    fn details(
        &self,
        index: usize,
        seen: &mut bool,
        wanted: &[u8],
        slot: &mut Option<u64>,
    ) -> Option<()> {
        if std::mem::replace(seen, true) {
            return None;
        }
        self.object(index)?;
        for (key, value) in members(self.nodes, index) {
            if self.key(key)? == wanted {
                self.count_once(value, slot)?;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openai_and_anthropic_shapes() {
        let openai = br#"{"prompt_tokens": 2006, "completion_tokens":300,"total_tokens":2306,
            "prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},
            "completion_tokens_details":{"reasoning_tokens":64,"accepted_prediction_tokens":0}} tail"#;
        let (counts, length) = read_token_counts(openai).unwrap();
        assert_eq!(&openai[length..], b" tail");
        assert_eq!(counts.prompt_tokens, Some(2006));
        assert_eq!(counts.prompt_cached_tokens, Some(1920));
        assert_eq!(counts.completion_reasoning_tokens, Some(64));
        let anthropic = br#"{"input_tokens":50,"cache_creation_input_tokens":2000,"cache_read_input_tokens":0,
            "cache_creation":{"ephemeral_5m_input_tokens":2000},"output_tokens":20,"service_tier":"standard",
            "server_tool_use":null,"list":[1,{"a":"\"}"}]}"#;
        let (counts, _) = read_token_counts(anthropic).unwrap();
        assert_eq!(counts.cache_creation_input_tokens, Some(2000));
        assert_eq!(counts.output_tokens, Some(20));
    }

    #[test]
    fn gives_up_on_anything_unusual() {
        for input in [
            r#"{"prompt_tokens":null}"#,
            r#"{"prompt_tokens":-1}"#,
            r#"{"prompt_tokens":1.0}"#,
            r#"{"prompt_tokens":01}"#,
            r#"{"prompt_tokens":99999999999999999999999}"#,
            r#"{"prompt_tokens":1,"prompt_tokens":2}"#,
            r#"{"prompt\u005ftokens":1}"#,
            r#"{"prompt_tokens":1"#,
            r#"{"a":tru}"#,
            r#"{"a":1.}"#,
            r#"{"a":--1}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12g4"}"#,
            "{\"a\":\"tab\there\"}",
            r#"[1]"#,
        ] {
            assert_eq!(read_token_counts(input.as_bytes()), None, "{input}");
        }
    }
}
