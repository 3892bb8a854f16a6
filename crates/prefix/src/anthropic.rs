//! Anthropic Messages: the prompt is cached only up to explicit
//! `cache_control` breakpoints (at most four), in the order tools → system
//! → messages. So: tools in stable key order, volatile system text moved
//! into a system block after the breakpoint, and breakpoints placed at the
//! end of the tools, the end of the static system and the last message
//! before the newest one, where the prefix reaches the model's minimum.

use serde_json::{json, Map, Value};

use crate::config::BreakpointTtl;
use crate::rewrite::{content_text, slots, split_run, Context};

/// Anthropic accepts at most this many breakpoints per request.
pub const MAX_BREAKPOINTS: usize = 4;

/// Where a breakpoint can go.
#[derive(Clone, Copy, Debug)]
enum Place {
    Tool(usize),
    System(usize),
    Message(usize),
}

/// `/v1/messages`.
pub(crate) fn messages(body: &mut Map<String, Value>, cx: &mut Context<'_>) {
    let existing = count_breakpoints(body);
    let mut candidates: Vec<(Place, u64)> = Vec::new();

    if let Some(Value::Array(tools)) = body.get_mut("tools") {
        cx.stabilise_tools(tools, |tool| tool.get("name").and_then(Value::as_str));
        if !tools.is_empty() {
            candidates.push((Place::Tool(tools.len() - 1), cx.prefix_tokens));
        }
    }

    if let Some(system) = body.get_mut("system") {
        let (moved, last_static) = split_run(&mut slots(system), cx);
        if !moved.is_empty() {
            if let Some(blocks) = as_blocks(system) {
                blocks.push(json!({"type": "text", "text": moved.join("\n")}));
            }
        }
        if let Some(last) = last_static {
            candidates.push((Place::System(last), cx.prefix_tokens));
        }
    }

    if let Some(Value::Array(messages)) = body.get("messages") {
        if messages.len() >= 2 {
            let history: u64 = messages[..messages.len() - 1]
                .iter()
                .map(|message| {
                    let text = message.get("content").map(content_text).unwrap_or_default();
                    cx.config().estimator.tokens(&text)
                })
                .sum();
            candidates.push((
                Place::Message(messages.len() - 2),
                cx.prefix_tokens + history,
            ));
        }
    }

    if cx.config().anthropic_breakpoints {
        place_breakpoints(body, candidates, existing, cx);
    }
}

fn place_breakpoints(
    body: &mut Map<String, Value>,
    candidates: Vec<(Place, u64)>,
    existing: usize,
    cx: &mut Context<'_>,
) {
    let minimum = cx.config().minimums.minimum(
        llm_layers_core::Provider::Anthropic,
        body.get("model").and_then(Value::as_str),
    );
    let budget = MAX_BREAKPOINTS.saturating_sub(existing);
    let eligible: Vec<Place> = candidates
        .into_iter()
        .filter(|(_, tokens)| *tokens >= minimum)
        .map(|(place, _)| place)
        .collect();
    // The later a breakpoint, the more it covers: keep the last ones.
    let skip = eligible.len().saturating_sub(budget);
    let control = match cx.config().breakpoint_ttl {
        BreakpointTtl::FiveMinutes => json!({"type": "ephemeral"}),
        BreakpointTtl::OneHour => json!({"type": "ephemeral", "ttl": "1h"}),
    };
    for place in eligible.into_iter().skip(skip) {
        let block = match place {
            Place::Tool(index) => body.get_mut("tools").and_then(|tools| tools.get_mut(index)),
            Place::System(index) => body
                .get_mut("system")
                .and_then(as_blocks)
                .and_then(|blocks| blocks.get_mut(index)),
            Place::Message(index) => body
                .get_mut("messages")
                .and_then(|messages| messages.get_mut(index))
                .and_then(|message| message.get_mut("content"))
                .and_then(as_blocks)
                .and_then(|blocks| blocks.last_mut())
                .filter(|block| {
                    !matches!(
                        block.get("type").and_then(Value::as_str),
                        Some("thinking" | "redacted_thinking")
                    )
                }),
        };
        let Some(Value::Object(block)) = block else {
            continue;
        };
        if block.contains_key("cache_control") {
            continue;
        }
        block.insert("cache_control".into(), control.clone());
        cx.rewrites.breakpoints_added += 1;
    }
}

/// A content value as a list of blocks: a string becomes one text block;
/// anything else but a list is left alone.
fn as_blocks(content: &mut Value) -> Option<&mut Vec<Value>> {
    if let Value::String(text) = content {
        let text = std::mem::take(text);
        *content = json!([{"type": "text", "text": text}]);
    }
    match content {
        Value::Array(blocks) => Some(blocks),
        _ => None,
    }
}

/// The caller's own breakpoints: `cache_control` on tools, system blocks
/// and message content blocks.
fn count_breakpoints(body: &Map<String, Value>) -> usize {
    let on = |value: &Value| usize::from(value.get("cache_control").is_some());
    let in_list = |value: Option<&Value>| match value {
        Some(Value::Array(items)) => items.iter().map(on).sum(),
        _ => 0,
    };
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) => messages
            .iter()
            .map(|message| in_list(message.get("content")))
            .sum(),
        _ => 0,
    };
    in_list(body.get("tools")) + in_list(body.get("system")) + messages
}
