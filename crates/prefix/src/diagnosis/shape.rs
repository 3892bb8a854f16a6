//! A prompt's elements in the provider's order, each by kind, index, hash
//! and size: enough to find where two prompts part, without keeping them.

use llm_layers_core::ApiKind;
use serde_json::{Map, Value};

/// Elements kept of one prompt: a difference further on is not told apart
/// from none (4,096 remembered prompts stay within a few megabytes).
const MAX_ELEMENTS: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Element {
    kind: &'static str,
    index: usize,
    hash: [u8; 16],
    bytes: usize,
}

/// Hashes and counts what is written to it.
#[derive(Default)]
struct HashingSink {
    hasher: blake3::Hasher,
    bytes: usize,
}

impl std::io::Write for HashingSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(bytes);
        self.bytes += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The elements of one prompt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shape(Vec<Element>);

impl Shape {
    fn push(&mut self, kind: &'static str, value: &Value) {
        if self.0.len() >= MAX_ELEMENTS {
            return;
        }
        // Serialised straight into the hash: no copy of the element.
        let mut sink = HashingSink::default();
        if serde_json::to_writer(&mut sink, value).is_err() {
            return;
        }
        let index = self.0.iter().filter(|e| e.kind == kind).count();
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&sink.hasher.finalize().as_bytes()[..16]);
        self.0.push(Element {
            kind,
            index,
            hash,
            bytes: sink.bytes,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn total_bytes(&self) -> usize {
        self.0.iter().map(|e| e.bytes).sum()
    }

    /// The first element where this prompt departs from `before`: its
    /// kind, index and the bytes before it; `None` when `before` is this
    /// prompt or its start.
    pub fn first_difference(&self, before: &Shape) -> Option<(&'static str, usize, usize)> {
        let mut offset = 0;
        for (i, element) in self.0.iter().enumerate() {
            match before.0.get(i) {
                Some(old) if old == element => offset += element.bytes,
                Some(_) => return Some((element.kind, element.index, offset)),
                // The earlier prompt was this one's start: nothing departed.
                None => return None,
            }
        }
        // This prompt is shorter than before: it parts where it ends.
        before
            .0
            .get(self.0.len())
            .map(|old| (old.kind, old.index, offset))
    }
}

/// The shape of a request body as sent.
pub(crate) fn shape_of(kind: ApiKind, body: &Map<String, Value>) -> Shape {
    let mut shape = Shape::default();
    let each = |shape: &mut Shape, kind: &'static str, value: Option<&Value>| match value {
        Some(Value::Array(items)) => items.iter().for_each(|item| shape.push(kind, item)),
        Some(value) => shape.push(kind, value),
        None => {}
    };
    match kind {
        ApiKind::OpenAiChat => {
            each(&mut shape, "tool", body.get("tools"));
            each(&mut shape, "response_format", body.get("response_format"));
            if let Some(Value::Array(messages)) = body.get("messages") {
                for message in messages {
                    let system = matches!(
                        message.get("role").and_then(Value::as_str),
                        Some("system" | "developer")
                    );
                    shape.push(if system { "system" } else { "message" }, message);
                }
            }
        }
        ApiKind::OpenAiResponses => {
            each(&mut shape, "system", body.get("instructions"));
            each(&mut shape, "tool", body.get("tools"));
            each(&mut shape, "message", body.get("input"));
        }
        ApiKind::AnthropicMessages => {
            each(&mut shape, "tool", body.get("tools"));
            each(&mut shape, "system", body.get("system"));
            each(&mut shape, "message", body.get("messages"));
        }
        ApiKind::GeminiGenerateContent => {
            let system = body
                .get("systemInstruction")
                .or(body.get("system_instruction"));
            each(&mut shape, "system", system.and_then(|s| s.get("parts")));
            each(&mut shape, "tool", body.get("tools"));
            each(&mut shape, "message", body.get("contents"));
        }
        _ => {}
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat(tools: Value, system: &str, user: &str) -> Shape {
        let body = json!({"tools": tools, "messages": [
            {"role": "system", "content": system}, {"role": "user", "content": user}]});
        shape_of(ApiKind::OpenAiChat, body.as_object().unwrap())
    }

    #[test]
    fn a_long_conversation_keeps_a_bounded_shape() {
        let messages: Vec<Value> = (0..1000)
            .map(|i| json!({"role": "user", "content": i}))
            .collect();
        let shape = shape_of(
            ApiKind::OpenAiChat,
            json!({"messages": messages}).as_object().unwrap(),
        );
        assert_eq!(shape.0.len(), MAX_ELEMENTS);
    }

    #[test]
    fn the_first_changed_element_is_found_with_its_offset() {
        let tools = json!([{"name": "a"}, {"name": "b"}]);
        let before = chat(tools.clone(), "rules", "one");
        let changed_tool = chat(json!([{"name": "a"}, {"name": "c"}]), "rules", "one");
        let first_tool = json!({"name": "a"}).to_string().len();
        assert_eq!(
            changed_tool.first_difference(&before),
            Some(("tool", 1, first_tool))
        );
        let changed_system = chat(tools.clone(), "other rules", "one");
        let (kind, index, offset) = changed_system.first_difference(&before).unwrap();
        assert_eq!((kind, index), ("system", 0));
        assert_eq!(offset, before.0[..2].iter().map(|e| e.bytes).sum::<usize>());
        assert_eq!(
            chat(tools.clone(), "rules", "one").first_difference(&before),
            None
        );
        let longer = shape_of(
            ApiKind::OpenAiChat,
            json!({"tools": tools, "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "one"}, {"role": "user", "content": "two"}]})
                .as_object()
                .unwrap(),
        );
        assert_eq!(
            longer.first_difference(&before),
            None,
            "a conversation that grew"
        );
    }
}
