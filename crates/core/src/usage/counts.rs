//! A small reader for provider `usage` objects: integer members and the
//! integer members of `*_details` objects, nothing else; every value it
//! does not read is checked by the crate's one JSON scanner.
//!
//! serde's derived deserializer validates and decodes every key it meets,
//! which costs more than the rest of a metrics layer's work on a response;
//! this reader compares raw key bytes instead. It gives up (`None`) on
//! anything it does not fully understand — an escaped key, a `null`, a
//! negative or fractional count, a number too large, a repeated key, a
//! malformed value — and the caller then falls back to serde, so its answer
//! is always the one serde would give (a property test checks this).

use crate::json::scan::{number_length, plain_run, value_prefix, NoTape};
use crate::json::whitespace;

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
    let mut reader = Reader { input, pos: 0 };
    let mut counts = TokenCounts::default();
    reader.object(|reader, key| {
        let slot = match key {
            b"prompt_tokens" => &mut counts.prompt_tokens,
            b"completion_tokens" => &mut counts.completion_tokens,
            b"input_tokens" => &mut counts.input_tokens,
            b"output_tokens" => &mut counts.output_tokens,
            b"cache_creation_input_tokens" => &mut counts.cache_creation_input_tokens,
            b"cache_read_input_tokens" => &mut counts.cache_read_input_tokens,
            b"prompt_tokens_details" => {
                return reader.details(
                    &mut counts.prompt_details,
                    b"cached_tokens",
                    &mut counts.prompt_cached_tokens,
                )
            }
            b"input_tokens_details" => {
                return reader.details(
                    &mut counts.input_details,
                    b"cached_tokens",
                    &mut counts.input_cached_tokens,
                )
            }
            b"completion_tokens_details" => {
                return reader.details(
                    &mut counts.completion_details,
                    b"reasoning_tokens",
                    &mut counts.completion_reasoning_tokens,
                )
            }
            b"output_tokens_details" => {
                return reader.details(
                    &mut counts.output_details,
                    b"reasoning_tokens",
                    &mut counts.output_reasoning_tokens,
                )
            }
            _ => return reader.skip_value(),
        };
        reader.count_once(slot)
    })?;
    Some((counts, reader.pos))
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        // Providers send usage objects compact: most calls find none.
        if let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += whitespace(&self.input[self.pos..]);
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// `{ "key": value, … }`, calling `member` at each value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let key = self.plain_key()?;
            self.expect(b':')?;
            self.skip_whitespace();
            member(self, key)?;
            self.skip_whitespace();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A short key of plain ASCII (no escapes, no controls); anything
    /// else is left to serde.
    fn plain_key(&mut self) -> Option<&'a [u8]> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos + 1;
        let rest = &self.input[start..];
        let length = plain_run(rest);
        if rest.get(length) != Some(&b'"') {
            return None;
        }
        self.pos = start + length + 1;
        Some(&rest[..length])
    }

    /// An unsigned integer, stored once.
    fn count_once(&mut self, slot: &mut Option<u64>) -> Option<()> {
        if slot.is_some() {
            return None;
        }
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        let leading_zero = digits > 1 && self.input[start] == b'0';
        if digits == 0 || leading_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        *slot = Some(value);
        Some(())
    }

    /// A `*_details` object: one count of interest, the rest skipped.
    fn details(&mut self, seen: &mut bool, wanted: &[u8], slot: &mut Option<u64>) -> Option<()> {
        if *seen {
            return None;
        }
        *seen = true;
        self.object(|reader, key| {
            if key == wanted {
                reader.count_once(slot)
            } else {
                reader.skip_value()
            }
        })
    }

    /// Any JSON value that is not needed: validated by the scanner, not
    /// decoded.
    fn skip_value(&mut self) -> Option<()> {
        let rest = &self.input[self.pos..];
        // Most skipped values are counts (`total_tokens`, `audio_tokens`).
        self.pos += match rest.first() {
            Some(b'0'..=b'9') => number_length(rest)?,
            _ => value_prefix(rest, &mut NoTape).ok()?,
        };
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
