//! Gemini `generateContent`: implicit caching serves the longest prefix a
//! recent request shared (system instruction, then tools, then contents),
//! from 1024 tokens (4096 for Pro models). So: tools and the response
//! schema in stable key order, and volatile system text moved out of the
//! system instruction into the first user turn, after the prefix.
//!
//! The REST API takes both spellings of its members (`systemInstruction`,
//! `system_instruction`); both are handled.

use serde_json::{json, Map, Value};

use crate::rewrite::{slots, split_run, Context, Slot};

/// `…/models/{model}:generateContent` and `:streamGenerateContent`.
pub(crate) fn generate(body: &mut Map<String, Value>, cx: &mut Context<'_>) {
    let moved = match member(body, "systemInstruction", "system_instruction") {
        Some(system) => {
            let mut slots = part_slots(system);
            split_run(&mut slots, cx).0
        }
        None => Vec::new(),
    };
    if let Some(Value::Array(tools)) = body.get_mut("tools") {
        cx.stabilise_tools(tools, first_function_name);
    }
    let config = member(body, "generationConfig", "generation_config");
    if let Some(schema) = config.and_then(|config| {
        let config = config.as_object_mut()?;
        member(config, "responseSchema", "response_schema")
    }) {
        cx.stabilise(schema);
        cx.static_json(schema);
    }
    if !moved.is_empty() {
        prepend_to_first_user_turn(body, moved.join("\n"));
    }
}

/// A member under either of its spellings.
fn member<'a>(body: &'a mut Map<String, Value>, camel: &str, snake: &str) -> Option<&'a mut Value> {
    let name = if body.contains_key(camel) {
        camel
    } else {
        snake
    };
    body.get_mut(name)
}

/// The parts of a `Content` (`{"parts": [{"text": …}, …]}`) as slots;
/// parts other than text (inline data, files) count as static.
fn part_slots(content: &mut Value) -> Vec<Slot<'_>> {
    match content.get_mut("parts") {
        Some(parts) => slots(parts),
        None => Vec::new(),
    }
}

/// The name a tool sorts by: its first function declaration's.
fn first_function_name(tool: &Value) -> Option<&str> {
    ["functionDeclarations", "function_declarations"]
        .iter()
        .find_map(|name| tool.get(*name))
        .and_then(|declarations| declarations.get(0))
        .and_then(|declaration| declaration.get("name"))
        .and_then(Value::as_str)
}

/// Puts the moved text first in the first user turn (a new user turn when
/// the conversation does not start with one).
fn prepend_to_first_user_turn(body: &mut Map<String, Value>, text: String) {
    let part = json!({"text": text});
    let Some(Value::Array(contents)) = body.get_mut("contents") else {
        body.insert(
            "contents".into(),
            json!([{"role": "user", "parts": [part]}]),
        );
        return;
    };
    let starts_with_user = contents.first().is_some_and(|first| {
        first.get("role").is_none_or(|role| role == "user")
            && matches!(first.get("parts"), Some(Value::Array(_)))
    });
    match contents
        .first_mut()
        .and_then(|first| first.get_mut("parts"))
    {
        Some(Value::Array(parts)) if starts_with_user => parts.insert(0, part),
        _ => contents.insert(0, json!({"role": "user", "parts": [part]})),
    }
}
