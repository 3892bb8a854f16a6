//! A client workload for demos, tests and benchmarks: an agent making
//! sequential calls on one workflow, its prompts written the way real
//! applications write them, cache-hostile:
//!
//! - about 2,800 tokens of static content (tool schemas, base
//!   instructions, the workflow's structure) and a 200-token task that
//!   changes every call, as in the seed design;
//! - the system prompt starts with the current time and a request id;
//! - the tool schemas come out with their keys in a different order on
//!   every call (as from a hash map).
//!
//! Token counts follow the mock's rule ([`crate::render`]: 4 bytes per
//! token). [`Prices`] turns usage into money.
//!
//! ```
//! use llm_layers_mock::workload::AgentWorkflow;
//!
//! let workflow = AgentWorkflow::default();
//! let first = workflow.openai_chat("gpt-4o", 0);
//! let second = workflow.openai_chat("gpt-4o", 1);
//! assert_ne!(first[..200], second[..200], "not even the tools agree");
//! ```

use llm_layers_core::Usage;
use serde_json::{json, Map, Value};

/// The workload; `seed` varies the key orders.
#[derive(Clone, Debug)]
pub struct AgentWorkflow {
    /// Seeds the per-call key order.
    pub seed: u64,
    /// Bytes of static system text (instructions and workflow structure).
    pub static_system_bytes: usize,
    /// Bytes of the task sent each call.
    pub task_bytes: usize,
}

impl Default for AgentWorkflow {
    fn default() -> Self {
        AgentWorkflow {
            seed: 7,
            // With the tool schemas (about 1,000 bytes), about 2,800 tokens.
            static_system_bytes: 10_200,
            task_bytes: 800,
        }
    }
}

impl AgentWorkflow {
    /// An OpenAI Chat Completions body for call number `call`.
    pub fn openai_chat(&self, model: &str, call: usize) -> String {
        let mut rng = Rng::new(self.seed, call);
        let tools: Vec<Value> = tool_specs()
            .into_iter()
            .map(|(name, description, parameters)| {
                json!({"type": "function", "function": {
                    "name": name, "description": description, "parameters": parameters,
                }})
            })
            .map(|tool| shuffle_keys(tool, &mut rng))
            .collect();
        let body = json!({
            "model": model,
            "messages": [
                {"role": "system", "content": self.system_prompt(call)},
                {"role": "user", "content": self.task(call)},
            ],
            "tools": tools,
        });
        body.to_string()
    }

    /// An Anthropic Messages body for call number `call`.
    pub fn anthropic_messages(&self, model: &str, call: usize) -> String {
        let mut rng = Rng::new(self.seed, call);
        let tools: Vec<Value> = tool_specs()
            .into_iter()
            .map(|(name, description, schema)| {
                json!({"name": name, "description": description, "input_schema": schema})
            })
            .map(|tool| shuffle_keys(tool, &mut rng))
            .collect();
        let body = json!({
            "model": model,
            "max_tokens": 256,
            "system": self.system_prompt(call),
            "tools": tools,
            "messages": [{"role": "user", "content": self.task(call)}],
        });
        body.to_string()
    }

    /// A Gemini `generateContent` body for call number `call` (the model is
    /// in the path).
    pub fn gemini_generate(&self, call: usize) -> String {
        let mut rng = Rng::new(self.seed, call);
        let declarations: Vec<Value> = tool_specs()
            .into_iter()
            .map(|(name, description, parameters)| {
                json!({"name": name, "description": description, "parameters": parameters})
            })
            .map(|tool| shuffle_keys(tool, &mut rng))
            .collect();
        let body = json!({
            "systemInstruction": {"parts": [{"text": self.system_prompt(call)}]},
            "tools": [{"functionDeclarations": declarations}],
            "contents": [{"role": "user", "parts": [{"text": self.task(call)}]}],
        });
        body.to_string()
    }

    /// The system prompt: the time and a request id first, as many
    /// applications write it, then the static instructions.
    pub fn system_prompt(&self, call: usize) -> String {
        let mut prompt = format!(
            "Current time: 2026-11-23T14:{:02}:{:02}Z\nRequest id: 5f0c{call:04x}-9a1b-4c2d-8e3f-{:012x}\n",
            call / 60 % 60,
            call % 60,
            call as u64 * 7919,
        );
        prompt.push_str(&static_text(
            "You are the planning agent of the workflow service. ",
            self.static_system_bytes,
        ));
        prompt
    }

    /// The task of call number `call`: different every call.
    pub fn task(&self, call: usize) -> String {
        let mut task = format!(
            "Task {call}: update step {} of the workflow. ",
            call * 3 + 1
        );
        while task.len() < self.task_bytes {
            task.push_str(&format!(
                "Consider input {} and report. ",
                task.len() + call
            ));
        }
        task.truncate(self.task_bytes);
        task
    }
}

/// Deterministic prose of about `bytes` bytes.
fn static_text(opening: &str, bytes: usize) -> String {
    const VERBS: [&str; 6] = [
        "validate",
        "route",
        "summarise",
        "check",
        "record",
        "escalate",
    ];
    const NOUNS: [&str; 6] = [
        "order", "invoice", "ticket", "shipment", "refund", "account",
    ];
    let mut text = String::from(opening);
    let mut step = 0;
    while text.len() < bytes {
        text.push_str(&format!(
            "Step {step}: {} the {} using the matching tool, then write the outcome to the log.\n",
            VERBS[step % VERBS.len()],
            NOUNS[(step / VERBS.len()) % NOUNS.len()],
        ));
        step += 1;
    }
    text.truncate(bytes);
    text
}

fn tool_specs() -> Vec<(&'static str, &'static str, Value)> {
    let object = |properties: Value, required: Value| json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false});
    vec![
        (
            "lookup_order",
            "Fetch an order by id with its lines and status.",
            object(
                json!({"order_id": {"type": "string", "description": "The order id."},
                       "include_lines": {"type": "boolean", "description": "Include order lines."}}),
                json!(["order_id"]),
            ),
        ),
        (
            "update_step",
            "Change the state of one workflow step.",
            object(
                json!({"step": {"type": "integer", "minimum": 0},
                       "state": {"type": "string", "enum": ["pending", "running", "done", "failed"]},
                       "note": {"type": "string"}}),
                json!(["step", "state"]),
            ),
        ),
        (
            "send_message",
            "Send a message to the customer or an operator.",
            object(
                json!({"to": {"type": "string", "enum": ["customer", "operator"]},
                       "text": {"type": "string", "maxLength": 2000}}),
                json!(["to", "text"]),
            ),
        ),
        (
            "search_knowledge",
            "Search the knowledge base and return the best passages.",
            object(
                json!({"query": {"type": "string"},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 20}}),
                json!(["query"]),
            ),
        ),
    ]
}

/// The value with every object's keys in a random order.
fn shuffle_keys(value: Value, rng: &mut Rng) -> Value {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(String, Value)> = map.into_iter().collect();
            for i in (1..members.len()).rev() {
                members.swap(i, rng.below(i + 1));
            }
            let shuffled: Map<String, Value> = members
                .into_iter()
                .map(|(key, member)| (key, shuffle_keys(member, rng)))
                .collect();
            Value::Object(shuffled)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| shuffle_keys(v, rng)).collect())
        }
        other => other,
    }
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, call: usize) -> Rng {
        Rng(seed ^ (call as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// Per-token prices, to turn usage into money.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prices {
    /// Dollars per million uncached input tokens.
    pub input_per_million: f64,
    /// Price of a cached input token, as a share of an uncached one.
    pub cached_factor: f64,
    /// Price of a token written to the cache, as a share of an uncached one.
    pub cache_write_factor: f64,
}

impl Default for Prices {
    /// $5 per million input tokens, cached tokens at 50% (the seed design's
    /// OpenAI figures), cache writes at the normal price.
    fn default() -> Self {
        Prices {
            input_per_million: 5.0,
            cached_factor: 0.5,
            cache_write_factor: 1.0,
        }
    }
}

impl Prices {
    /// Anthropic's multipliers at the same base price: reads at 10%,
    /// 5-minute writes at 125%.
    pub fn anthropic() -> Self {
        Prices {
            input_per_million: 5.0,
            cached_factor: 0.1,
            cache_write_factor: 1.25,
        }
    }

    /// Gemini 2.5's implicit-caching discount at the same base price:
    /// cached tokens at 25%.
    pub fn gemini() -> Self {
        Prices {
            input_per_million: 5.0,
            cached_factor: 0.25,
            cache_write_factor: 1.0,
        }
    }

    /// Input tokens billed, weighted by price: what the input costs,
    /// counted in uncached tokens.
    pub fn billed_input_tokens(&self, usage: &Usage) -> f64 {
        let plain = usage
            .input_tokens
            .saturating_sub(usage.cache_read_tokens + usage.cache_write_tokens);
        plain as f64
            + usage.cache_read_tokens as f64 * self.cached_factor
            + usage.cache_write_tokens as f64 * self.cache_write_factor
    }

    /// The input's cost in dollars.
    pub fn input_cost(&self, usage: &Usage) -> f64 {
        self.billed_input_tokens(usage) * self.input_per_million / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tokens_for_bytes;

    #[test]
    fn the_static_part_is_about_2800_tokens_and_the_task_200() {
        let workflow = AgentWorkflow::default();
        let body = workflow.openai_chat("gpt-4o", 3);
        let tokens = tokens_for_bytes(body.len());
        assert!((2900..3300).contains(&tokens), "{tokens}");
        assert_eq!(tokens_for_bytes(workflow.task(3).len()), 200);
        let value: Value = serde_json::from_str(&body).unwrap();
        assert!(value["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("Current time: 2026-11-23T14:00:03Z"));
    }

    #[test]
    fn billed_tokens_weigh_cached_and_written_tokens() {
        let usage = Usage {
            input_tokens: 3000,
            cache_read_tokens: 2000,
            cache_write_tokens: 500,
            ..Usage::default()
        };
        assert_eq!(
            Prices::default().billed_input_tokens(&usage),
            500.0 + 1000.0 + 500.0
        );
        assert!((Prices::default().input_cost(&usage) - 0.01).abs() < 1e-12);
    }
}
