//! OpenAI requests: Chat Completions and Responses.
//!
//! OpenAI caches the longest prefix it has seen (from 1024 tokens, in
//! 128-token steps), rendered tools first, then the messages. So: tools and
//! schemas in stable key order, volatile system text moved into a message
//! of its own right after the system messages, and a `prompt_cache_key`
//! naming the static prefix so requests sharing it reach the same cache.

use serde_json::{json, Map, Value};

use crate::rewrite::{slots, split_run, Context};

/// `/v1/chat/completions`.
pub(crate) fn chat(body: &mut Map<String, Value>, cx: &mut Context<'_>) {
    if let Some(Value::Array(tools)) = body.get_mut("tools") {
        cx.stabilise_tools(tools, |tool| {
            tool.pointer("/function/name").and_then(Value::as_str)
        });
    }
    if let Some(format) = body.get_mut("response_format") {
        cx.stabilise(format);
        cx.static_json(format);
    }
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        move_volatile_system_text(messages, cx);
    }
    set_prompt_cache_key(body, cx);
}

/// `/v1/responses`: `instructions` is the system prompt; its volatile text
/// becomes a developer message at the start of `input`.
pub(crate) fn responses(body: &mut Map<String, Value>, cx: &mut Context<'_>) {
    if let Some(Value::Array(tools)) = body.get_mut("tools") {
        cx.stabilise_tools(tools, |tool| tool.get("name").and_then(Value::as_str));
    }
    if let Some(format) = body.get_mut("text").and_then(|text| text.get_mut("format")) {
        cx.stabilise(format);
        cx.static_json(format);
    }
    let moved = match body.get_mut("instructions") {
        Some(instructions @ Value::String(_)) => split_run(&mut slots(instructions), cx).0,
        _ => Vec::new(),
    };
    if !moved.is_empty() {
        let message = json!({"role": "developer", "content": moved.join("\n")});
        match body.get_mut("input") {
            Some(Value::Array(items)) => items.insert(0, message),
            Some(input @ Value::String(_)) => {
                let text = input.take();
                *input = json!([message, {"role": "user", "content": text}]);
            }
            _ => {
                body.insert("input".into(), json!([message]));
            }
        }
    }
    set_prompt_cache_key(body, cx);
}

/// The leading system and developer messages keep their static text; the
/// volatile pieces go into one message of the same role right after the
/// last one with static text.
fn move_volatile_system_text(messages: &mut Vec<Value>, cx: &mut Context<'_>) {
    let leading = messages
        .iter()
        .take_while(|message| {
            matches!(
                message.get("role").and_then(Value::as_str),
                Some("system" | "developer")
            )
        })
        .count();
    let mut owners = Vec::new();
    let mut run = Vec::new();
    for (index, message) in messages[..leading].iter_mut().enumerate() {
        if let Some(content) = message.get_mut("content") {
            let message_slots = slots(content);
            owners.extend(std::iter::repeat_n(index, message_slots.len()));
            run.extend(message_slots);
        }
    }
    let (moved, last) = split_run(&mut run, cx);
    let Some(last) = last.map(|slot| owners[slot]) else {
        return;
    };
    for message in &messages[..=last] {
        if let Some(role) = message.get("role").and_then(Value::as_str) {
            cx.static_piece(role);
        }
    }
    if !moved.is_empty() {
        let role = messages[last]["role"].clone();
        messages.insert(last + 1, json!({"role": role, "content": moved.join("\n")}));
    }
}

fn set_prompt_cache_key(body: &mut Map<String, Value>, cx: &mut Context<'_>) {
    if !cx.config().openai_prompt_cache_key
        || body.contains_key("prompt_cache_key")
        || cx.prefix_tokens == 0
    {
        return;
    }
    let key = format!("llm-layers-{}", cx.fingerprint());
    body.insert("prompt_cache_key".into(), Value::String(key));
    cx.rewrites.prompt_cache_key = true;
}
