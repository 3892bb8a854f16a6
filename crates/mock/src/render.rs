//! How the mock renders a request into the prompt a provider would see, and
//! how it counts tokens.
//!
//! # Rendering
//! The prompt is text, built in provider order: tools, then system, then
//! messages.
//! - A tool definition (and an OpenAI `response_format`) is its JSON exactly
//!   as sent, key order and whitespace included, minus a top-level
//!   `cache_control` member: like a real provider, the mock sees the bytes
//!   the client serialised.
//! - A message is `<|role|>` followed by its text. Text content is taken out
//!   of the message object, so the key order inside a message object does
//!   not matter. A non-text content block (image, tool use, tool result) is
//!   its JSON as sent, minus `cache_control`.
//! - Every tool, system block and message ends with `<|end|>`.
//!
//! # Tokens
//! One token per 4 bytes of rendered prompt, rounded up. Generated text
//! counts one token per word.
//!
//! # Anthropic breakpoints
//! A block carrying `cache_control` marks a breakpoint at the end of its
//! rendering; its `ttl` (`5m` default, or `1h`) is kept with it.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Bytes per emulated token.
pub const BYTES_PER_TOKEN: usize = 4;

/// Tokens in `bytes` bytes of rendered prompt.
pub fn tokens_for_bytes(bytes: usize) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN) as u64
}

/// A rendered prompt and its Anthropic cache breakpoints.
#[derive(Debug, Default)]
pub struct Rendered {
    /// The prompt text as the provider sees it.
    pub text: String,
    /// Byte offsets at which a `cache_control` block ends, with its TTL.
    pub breakpoints: Vec<Breakpoint>,
}

/// A cache breakpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Breakpoint {
    /// Byte offset into the rendered text.
    pub end: usize,
    /// Entry lifetime asked for.
    pub ttl: std::time::Duration,
}

impl Rendered {
    /// Emulated prompt tokens.
    pub fn tokens(&self) -> u64 {
        tokens_for_bytes(self.text.len())
    }

    /// Appends a tool definition or schema as sent.
    pub fn push_raw(&mut self, raw: &RawValue) {
        let members = serde_json::from_str::<Members>(raw.get()).ok();
        match members {
            Some(members) => {
                let breakpoint = members.cache_ttl();
                self.text.push_str(&members.render_without_cache_control());
                self.end_block(breakpoint);
            }
            None => {
                self.text.push_str(raw.get());
                self.end_block(None);
            }
        }
    }

    /// Appends a message header.
    pub fn push_role(&mut self, role: &str) {
        self.text.push_str("<|");
        self.text.push_str(role);
        self.text.push_str("|>");
    }

    /// Appends message text.
    pub fn push_text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Appends message content: a string, or a list of content blocks.
    /// (serde's untagged enums cannot hold `RawValue`s, hence the dispatch
    /// on the first byte.)
    pub fn push_content(&mut self, raw: &RawValue) {
        let text = raw.get().trim_start();
        if text.starts_with('"') {
            if let Ok(content) = serde_json::from_str::<String>(text) {
                self.push_text(&content);
            }
        } else if text.starts_with('[') {
            if let Ok(blocks) = serde_json::from_str::<Vec<Box<RawValue>>>(text) {
                blocks.iter().for_each(|block| self.push_block(block));
            }
        } else if text != "null" {
            self.push_text(text);
        }
    }

    /// Appends a content block: its text if it is a text block, otherwise its
    /// JSON as sent; records a breakpoint if it carries `cache_control`.
    pub fn push_block(&mut self, raw: &RawValue) {
        let Ok(members) = serde_json::from_str::<Members>(raw.get()) else {
            self.text.push_str(raw.get());
            return;
        };
        match members.text_block() {
            Some(text) => self.text.push_str(&text),
            None => self.text.push_str(&members.render_without_cache_control()),
        }
        if let Some(ttl) = members.cache_ttl() {
            self.breakpoints.push(Breakpoint {
                end: self.text.len(),
                ttl,
            });
        }
    }

    /// Ends a tool, system block or message.
    pub fn end_block(&mut self, breakpoint_ttl: Option<std::time::Duration>) {
        self.text.push_str("<|end|>");
        if let Some(ttl) = breakpoint_ttl {
            self.breakpoints.push(Breakpoint {
                end: self.text.len(),
                ttl,
            });
        }
    }
}

/// The top-level members of a JSON object, in the order they were sent.
pub struct Members(Vec<(String, Box<RawValue>)>);

impl Members {
    /// The raw value of a member.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_ref())
    }

    /// The `text` of a `{"type":"text"}` or `input_text` block.
    fn text_block(&self) -> Option<String> {
        let kind: String = serde_json::from_str(self.get("type")?.get()).ok()?;
        if kind != "text" && kind != "input_text" && kind != "output_text" {
            return None;
        }
        serde_json::from_str(self.get("text")?.get()).ok()
    }

    /// The TTL of a `cache_control` member, if there is one.
    fn cache_ttl(&self) -> Option<std::time::Duration> {
        #[derive(Deserialize)]
        struct CacheControl {
            ttl: Option<String>,
        }
        let control: CacheControl = serde_json::from_str(self.get("cache_control")?.get()).ok()?;
        Some(match control.ttl.as_deref() {
            Some("1h") => std::time::Duration::from_secs(3600),
            _ => std::time::Duration::from_secs(300),
        })
    }

    fn render_without_cache_control(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        for (name, value) in &self.0 {
            if name == "cache_control" {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&serde_json::to_string(name).unwrap_or_default());
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
        out
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn tools_render_as_sent_without_cache_control() {
        let mut a = Rendered::default();
        a.push_raw(&raw(
            r#"{"name":"f","parameters":{"b":1,"a":2},"cache_control":{"type":"ephemeral"}}"#,
        ));
        assert_eq!(a.text, r#"{"name":"f","parameters":{"b":1,"a":2}}<|end|>"#);
        assert_eq!(a.breakpoints.len(), 1);
        let mut b = Rendered::default();
        b.push_raw(&raw(r#"{"parameters":{"b":1,"a":2},"name":"f"}"#));
        assert_ne!(a.text, b.text, "key order of tools counts");
    }

    #[test]
    fn text_blocks_render_their_text_whatever_the_key_order() {
        let mut a = Rendered::default();
        a.push_block(&raw(r#"{"type":"text","text":"hello"}"#));
        let mut b = Rendered::default();
        b.push_block(&raw(
            r#"{"text":"hello","type":"text","cache_control":{"type":"ephemeral","ttl":"1h"}}"#,
        ));
        assert_eq!(a.text, "hello");
        assert_eq!(a.text, b.text);
        assert_eq!(b.breakpoints[0].ttl.as_secs(), 3600);
    }

    #[test]
    fn token_rule() {
        assert_eq!(tokens_for_bytes(0), 0);
        assert_eq!(tokens_for_bytes(1), 1);
        assert_eq!(tokens_for_bytes(4096), 1024);
    }
}
