//! What the layer sends upstream, through its public API, with a stand-in
//! upstream that answers with the request it received.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_prefix::{
    BreakpointTtl, PrefixConfig, PrefixReport, PromptPrefixLayer, StaticContent,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What reached the upstream: headers and body.
struct Sent {
    content_length: Option<usize>,
    body: Bytes,
    report: Option<PrefixReport>,
}

impl Sent {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send_with(layer: &PromptPrefixLayer, request: http::Request<Full<Bytes>>) -> Sent {
    let upstream = service_fn(|request: http::Request<_>| async move {
        let length = request
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = BodyExt::collect(request.into_body()).await?.to_bytes();
        let mut response = http::Response::new(Full::new(body));
        if let Some(length) = length {
            response
                .headers_mut()
                .insert("x-sent-length", length.parse().unwrap());
        }
        Ok::<_, BoxError>(response)
    });
    let response = layer.layer(upstream).oneshot(request).await.unwrap();
    let content_length = response
        .headers()
        .get("x-sent-length")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let report = response.extensions().get::<PrefixReport>().copied();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Sent {
        content_length,
        body,
        report,
    }
}

/// The default configuration, short requests rewritten too: these tests
/// use short bodies to show each rewrite (the default leaves bodies too
/// short for a provider's cache untouched; see
/// `short_requests_pass_untouched_by_default`).
fn rewriting_short() -> PrefixConfig {
    PrefixConfig::default().rewrite_short_requests(true)
}

fn request(path: &str, body: &str) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("https://api.example{path}"))
        .header("content-length", body.len())
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

async fn send(path: &str, body: &str) -> Sent {
    send_with(
        &PromptPrefixLayer::new(rewriting_short()),
        request(path, body),
    )
    .await
}

#[tokio::test]
async fn bodies_the_layer_does_not_understand_pass_byte_for_byte() {
    for (path, body) in [
        ("/v1/chat/completions", "{not json"),
        ("/v1/chat/completions", "[1,2]"),
        (
            "/v1/embeddings",
            r#"{"model":"e","input":"2026-11-23T10:00:00Z"}"#,
        ),
        ("/v2/other", r#"{"model":"m","messages":[]}"#),
    ] {
        let sent = send(path, body).await;
        assert_eq!(sent.body, body.as_bytes(), "{path} {body}");
        assert_eq!(sent.content_length, Some(body.len()));
        assert!(sent.report.is_none());
    }
}

#[tokio::test]
async fn a_request_needing_no_repair_passes_byte_for_byte() {
    let body = r#"{"model":"gpt-4o", "prompt_cache_key":"mine","tools":[{"function":{"name":"f"},"type":"function"}],"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}"#;
    let sent = send("/v1/chat/completions", body).await;
    assert_eq!(sent.body, body.as_bytes());
    assert!(!sent.report.unwrap().rewrites.any());
}

#[tokio::test]
async fn rewritten_bodies_carry_their_new_length() {
    let body = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"<dynamic>user ann</dynamic>Be brief."},{"role":"user","content":"Hi"}]}"#;
    let sent = send("/v1/chat/completions", body).await;
    assert_ne!(sent.body, body.as_bytes());
    assert_eq!(sent.content_length, Some(sent.body.len()));
    let json = sent.json();
    assert_eq!(json["messages"][0]["content"], "Be brief.");
    assert_eq!(
        json["messages"][1],
        json!({"role": "system", "content": "<dynamic>user ann</dynamic>"})
    );
    assert_eq!(json["messages"][2]["role"], "user");
}

#[tokio::test]
async fn tool_schemas_serialise_the_same_whatever_the_key_order() {
    let a = r#"{"model":"gpt-4o","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}}}}}],"messages":[{"role":"user","content":"x"}]}"#;
    let b = r#"{"tools":[{"function":{"parameters":{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"},"name":"f"},"type":"function"}],"messages":[{"role":"user","content":"x"}],"model":"gpt-4o"}"#;
    let (a, b) = (
        send("/v1/chat/completions", a).await,
        send("/v1/chat/completions", b).await,
    );
    let tools = |sent: &Sent| serde_json::to_string(&sent.json()["tools"]).unwrap();
    assert_eq!(tools(&a), tools(&b));
    assert_eq!(a.report.unwrap().fingerprint, b.report.unwrap().fingerprint);
    assert_eq!(a.json()["prompt_cache_key"], b.json()["prompt_cache_key"]);
}

#[tokio::test]
async fn switched_off_rewrites_leave_the_request_alone() {
    let config = rewriting_short()
        .stable_serialisation(false)
        .markers(None)
        .detect_date_times(false)
        .detect_uuids(false)
        .openai_prompt_cache_key(false);
    let layer = PromptPrefixLayer::new(config);
    let body = r#"{"model":"gpt-4o","tools":[{"type":"function","function":{"parameters":{"type":"object"},"name":"f"}}],"messages":[{"role":"system","content":"Now 2026-11-23 <dynamic>x</dynamic>"}]}"#;
    let sent = send_with(&layer, request("/v1/chat/completions", body)).await;
    assert_eq!(sent.body, body.as_bytes());
}

#[tokio::test]
async fn named_static_content_keeps_only_itself_in_place() {
    let body = r#"{"model":"gpt-4o","messages":[{"role":"developer","content":"Hello ann, session 42.\nYou are a planner."},{"role":"user","content":"go"}]}"#;
    let mut request = request("/v1/chat/completions", body);
    request
        .extensions_mut()
        .insert(StaticContent::new(["You are a planner."]));
    let sent = send_with(&PromptPrefixLayer::new(rewriting_short()), request).await;
    let json = sent.json();
    assert_eq!(json["messages"][0]["content"], "You are a planner.");
    assert_eq!(
        json["messages"][1],
        json!({"role": "developer", "content": "Hello ann, session 42.\n"})
    );
}

#[tokio::test]
async fn responses_api_instructions_lose_their_volatile_lines() {
    let body = r#"{"model":"gpt-4o","instructions":"Date: 2026-11-23\nAnswer briefly.","input":"What now?"}"#;
    let json = send("/v1/responses", body).await.json();
    assert_eq!(json["instructions"], "Answer briefly.");
    assert_eq!(
        json["input"],
        json!([{"role": "developer", "content": "Date: 2026-11-23"}, {"role": "user", "content": "What now?"}])
    );
}

#[tokio::test]
async fn responses_api_tools_are_stabilised_and_array_input_gets_the_moved_lines_first() {
    let body = json!({
        "model": "gpt-5",
        "instructions": "Request id: 5f0c0001-9a1b-4c2d-8e3f-000000001eef\nYou plan.",
        "tools": [{"type": "function", "parameters": {"type": "object"}, "name": "plan"}],
        "input": [{"role": "user", "content": "Go."}]
    })
    .to_string();
    let sent = send("/v1/responses", &body).await;
    let json = sent.json();
    assert_eq!(json["instructions"], "You plan.");
    assert_eq!(json["input"][0]["role"], "developer");
    assert_eq!(json["input"][1], json!({"role": "user", "content": "Go."}));
    let tool = serde_json::to_string(&json["tools"][0]).unwrap();
    assert!(tool.starts_with(r#"{"name":"plan","parameters""#), "{tool}");
    assert!(json["prompt_cache_key"]
        .as_str()
        .unwrap()
        .starts_with("llm-layers-"));
    assert!(sent.report.unwrap().rewrites.sorted_keys);
}

const GEMINI: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

#[tokio::test]
async fn gemini_system_instructions_and_tools_become_a_stable_prefix() {
    let body = |date: &str, system: &str| {
        json!({
            system: {"parts": [{"text": format!("Today is {date}.\nYou plan workflows.")}]},
            "tools": [
                {"functionDeclarations": [{"parameters": {"type": "object", "properties": {"b": {}, "a": {}}}, "name": "zeta"}]},
                {"functionDeclarations": [{"name": "alpha", "description": "d"}]}
            ],
            "contents": [{"role": "user", "parts": [{"text": "Plan it."}]}]
        })
        .to_string()
    };
    let layer = PromptPrefixLayer::new(rewriting_short().reorder_tools(true));
    let first = send_with(
        &layer,
        request(GEMINI, &body("2026-11-23", "systemInstruction")),
    )
    .await;
    let json = first.json();
    assert_eq!(
        json["systemInstruction"]["parts"][0]["text"],
        "You plan workflows."
    );
    assert_eq!(
        json["contents"][0]["parts"],
        json!([{"text": "Today is 2026-11-23."}, {"text": "Plan it."}]),
        "the volatile line opens the first user turn, after the prefix"
    );
    assert_eq!(json["tools"][0]["functionDeclarations"][0]["name"], "alpha");
    let zeta = serde_json::to_string(&json["tools"][1]).unwrap();
    assert!(
        zeta.find("\"name\"").unwrap() < zeta.find("\"parameters\"").unwrap(),
        "{zeta}"
    );
    let second = send_with(
        &layer,
        request(GEMINI, &body("2026-11-24", "system_instruction")),
    )
    .await;
    assert_eq!(
        second.json()["system_instruction"]["parts"][0]["text"],
        "You plan workflows."
    );
    let (a, b) = (first.report.unwrap(), second.report.unwrap());
    assert_eq!(a.fingerprint, b.fingerprint, "another day, the same prefix");
    assert!(a.estimated_prefix_tokens > 0);
    // A repaired request is left as it is.
    let again = send_with(
        &layer,
        request(GEMINI, std::str::from_utf8(&first.body).unwrap()),
    )
    .await;
    assert_eq!(again.json(), json);
}

#[tokio::test]
async fn a_gemini_request_with_nothing_static_passes_untouched() {
    let body = r#"{"contents":[{"parts":[{"text":"Today is 2026-11-23. Hi"}]}]}"#;
    let sent = send(GEMINI, body).await;
    assert_eq!(&sent.body[..], body.as_bytes());
}

fn long_text(tokens: usize) -> String {
    "word ".repeat(tokens * 4 / 5)
}

#[tokio::test]
async fn anthropic_breakpoints_go_where_the_prefix_is_long_enough() {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "tools": [{"name": "t", "input_schema": {"type": "object", "description": long_text(1100)}}],
        "system": format!("Now: 2026-11-23T10:00:00Z\n{}", long_text(1200)),
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "second"},
        ],
    });
    let sent = send("/v1/messages", &body.to_string()).await;
    let json = sent.json();
    let ephemeral = json!({"type": "ephemeral"});
    assert_eq!(json["tools"][0]["cache_control"], ephemeral);
    assert_eq!(json["system"][0]["cache_control"], ephemeral);
    assert_eq!(
        json["system"][1],
        json!({"type": "text", "text": "Now: 2026-11-23T10:00:00Z"})
    );
    assert_eq!(
        json["messages"][1]["content"],
        json!([{"type": "text", "text": "answer", "cache_control": ephemeral}])
    );
    assert_eq!(
        json["messages"][2]["content"], "second",
        "the newest message is left alone"
    );
    assert_eq!(sent.report.unwrap().rewrites.breakpoints_added, 3);
}

#[tokio::test]
async fn anthropic_never_gets_more_than_four_breakpoints() {
    let marked =
        json!({"type": "text", "text": long_text(400), "cache_control": {"type": "ephemeral"}});
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "tools": [{"name": "t", "input_schema": {"type": "object", "description": long_text(1100)}}],
        "system": [marked, marked, marked, {"type": "text", "text": "static"}],
        "messages": [{"role": "user", "content": "hi"}],
    });
    let sent = send("/v1/messages", &body.to_string()).await;
    let json = sent.json();
    assert_eq!(sent.report.unwrap().rewrites.breakpoints_added, 1);
    assert!(
        json["tools"][0].get("cache_control").is_none(),
        "the later breakpoint wins"
    );
    assert!(json["system"][3].get("cache_control").is_some());
}

#[tokio::test]
async fn short_prefixes_get_no_breakpoint_and_are_reported_below_minimum() {
    let body = r#"{"model":"claude-haiku-4-5","max_tokens":5,"system":"Be brief.","messages":[{"role":"user","content":"hi"}]}"#;
    let sent = send("/v1/messages", body).await;
    let report = sent.report.unwrap();
    assert!(report.below_minimum());
    assert_eq!(report.minimum_tokens, 4096);
    assert_eq!(sent.body, body.as_bytes());
}

#[tokio::test]
async fn one_hour_breakpoints_carry_their_ttl() {
    let layer = PromptPrefixLayer::new(rewriting_short().breakpoint_ttl(BreakpointTtl::OneHour));
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 5, "system": long_text(1100), "messages": [{"role": "user", "content": "hi"}]});
    let sent = send_with(&layer, request("/v1/messages", &body.to_string())).await;
    assert_eq!(
        sent.json()["system"][0]["cache_control"],
        json!({"type": "ephemeral", "ttl": "1h"})
    );
}

#[test]
fn rewrites_and_prefixes_reach_the_metrics_recorder() {
    let layer = PromptPrefixLayer::new(rewriting_short());
    let body = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"Today 2026-11-23\nRules."},{"role":"user","content":"x"}]}"#;
    let (_, seen) = llm_layers_mock::testing::recorded(|| {
        send_with(&layer, request("/v1/chat/completions", body))
    });
    assert_eq!(
        seen.counter("llm_prefix_requests_total", &[("model", "gpt-4o")]),
        1
    );
    assert_eq!(
        seen.counter(
            "llm_prefix_rewrites_total",
            &[("rewrite", "moved_volatile")]
        ),
        1
    );
    assert_eq!(
        seen.counter("llm_prefix_below_minimum_total", &[("model", "gpt-4o")]),
        1
    );
}

/// With the defaults, a body too short for any prefix of it to reach the
/// provider's minimum goes through byte for byte (no `prompt_cache_key`,
/// its date line left in place) and is counted as such; the same prompt
/// made long enough is rewritten.
#[test]
fn short_requests_pass_untouched_by_default() {
    let layer = PromptPrefixLayer::default();
    let prompt = |rules: &str| {
        json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": format!("Today 2026-11-23\nRules. {rules}")},
            {"role": "user", "content": "x"}]})
        .to_string()
    };
    let short = prompt("Be brief.");
    let (sent, seen) = llm_layers_mock::testing::recorded(|| {
        send_with(&layer, request("/v1/chat/completions", &short))
    });
    assert_eq!(sent.body, short.as_bytes());
    assert_eq!(sent.report, None);
    assert_eq!(
        seen.counter("llm_prefix_untouched_total", &[("reason", "too_short")]),
        1
    );
    assert_eq!(
        seen.counter("llm_prefix_requests_total", &[("model", "gpt-4o")]),
        0
    );

    // Over 2,048 bytes: the body could estimate above 1,024 tokens.
    let rules = "Be brief. ".repeat(200);
    let long = prompt(&rules);
    let (sent, _) = llm_layers_mock::testing::recorded(|| {
        send_with(&layer, request("/v1/chat/completions", &long))
    });
    assert_eq!(sent.report.unwrap().rewrites.moved_volatile, 1);
    assert_eq!(
        sent.json()["messages"][0]["content"],
        format!("Rules. {rules}")
    );
    assert!(sent.json()["prompt_cache_key"].is_string());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the system prompt holds, the rewritten request is valid
    /// JSON, keeps every message, and loses no text: what stays and what
    /// moved hold every non-blank line of the original.
    #[test]
    fn nothing_the_model_is_asked_is_lost(
        lines in prop::collection::vec(
            prop_oneof![
                "[a-zA-Z ,.]{0,30}",
                (2000u32..2100, 1u32..13).prop_map(|(y, m)| format!("As of {y}-{m:02}-01")),
                "[a-z]{0,8}<dynamic>[a-z ]{0,10}</dynamic>[a-z]{0,8}",
            ],
            0..8,
        ),
        user in "[a-z ]{0,20}",
    ) {
        let system = lines.join("\n");
        let body = json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]});
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let sent = runtime.block_on(send("/v1/chat/completions", &body.to_string()));
        let json = sent.json();
        let messages = json["messages"].as_array().unwrap();
        prop_assert_eq!(messages.last().unwrap(), &json!({"role": "user", "content": user}));
        let all: String = messages[..messages.len() - 1]
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("\n");
        let stripped = |text: &str| text.replace("<dynamic>", "\n").replace("</dynamic>", "\n");
        for word in stripped(&system).split_whitespace() {
            prop_assert!(all.contains(word), "{} lost from {:?}", word, all);
        }
    }
}

/// A repaired request is left alone the second time: the layer can sit
/// twice in a stack, or see a request a retry resends, without drifting.
#[test]
fn a_repaired_request_needs_no_second_repair() {
    use llm_layers_core::RequestFacts;
    use llm_layers_mock::workload::AgentWorkflow;

    let layer = PromptPrefixLayer::new(rewriting_short());
    let workflow = AgentWorkflow::default();
    for (path, body) in [
        ("/v1/chat/completions", workflow.openai_chat("gpt-4o", 3)),
        (
            "/v1/messages",
            workflow.anthropic_messages("claude-sonnet-4-5", 3),
        ),
    ] {
        let (parts, ()) = http::Request::post(path).body(()).unwrap().into_parts();
        let first = layer
            .rewrite(&RequestFacts::from_parts(&parts, Bytes::from(body)), None)
            .unwrap();
        let repaired = first.body.expect("the workload needs repair");
        let second = layer
            .rewrite(&RequestFacts::from_parts(&parts, repaired), None)
            .unwrap();
        assert_eq!(second.body, None, "{path}: {:?}", second.report.rewrites);
        assert_eq!(second.report.fingerprint, first.report.fingerprint);
    }
}

#[tokio::test]
async fn custom_markers_and_detectors_and_tool_reordering() {
    let layer = PromptPrefixLayer::new(
        rewriting_short()
            .markers(Some(llm_layers_prefix::Markers {
                open: "{{live}}".into(),
                close: "{{/live}}".into(),
            }))
            .detectors(vec![regex::Regex::new(r"Session \d+").unwrap()])
            .reorder_tools(true),
    );
    let body = json!({"model": "gpt-4o",
    "tools": [
        {"type": "function", "function": {"name": "zeta", "parameters": {}}},
        {"type": "function", "function": {"name": "alpha", "parameters": {}}},
    ],
    "messages": [
        {"role": "system", "content": "Rules.\nSession 4711 for ann\n{{live}}load 0.3{{/live}}<dynamic>kept</dynamic>"},
        {"role": "user", "content": "go"},
    ]});
    let sent = send_with(&layer, request("/v1/chat/completions", &body.to_string())).await;
    let json = sent.json();
    assert_eq!(
        json["tools"][0]["function"]["name"], "alpha",
        "sorted by name"
    );
    assert_eq!(
        json["messages"][0]["content"], "Rules.\n<dynamic>kept</dynamic>",
        "the default markers are replaced, not added to"
    );
    assert_eq!(
        json["messages"][1]["content"],
        "{{live}}load 0.3{{/live}}\nSession 4711 for ann"
    );
    assert!(sent.report.unwrap().rewrites.reordered_tools);

    // By default the tools keep the order the application gave them.
    let default = send("/v1/chat/completions", &body.to_string()).await.json();
    assert_eq!(default["tools"][0]["function"]["name"], "zeta");
}

#[tokio::test]
async fn layers_below_see_facts_of_the_bytes_actually_sent() {
    use llm_layers_core::RequestFacts;
    let upstream = service_fn(|request: http::Request<_>| async move {
        let facts = RequestFacts::from_extensions(request.extensions())
            .cloned()
            .expect("facts travel with the request");
        let body = BodyExt::collect(request.into_body()).await?.to_bytes();
        assert_eq!(facts.body(), &body, "the facts' body is the one sent");
        assert!(facts.is_understood());
        let key = facts.canonical_key().expect("a key of the sent bytes");
        Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::from(key.to_hex()))))
    });
    let layer = PromptPrefixLayer::new(rewriting_short());
    let client = layer.layer(upstream);
    // Keys in random order and a date in the system prompt: rewritten.
    let body = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"Today is 2026-12-02.\nYou help."}],"tools":[{"type":"function","function":{"parameters":{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"string"}}},"name":"t"}}]}"#;
    let response = client
        .oneshot(request("/v1/chat/completions", body))
        .await
        .unwrap();
    assert!(
        response.extensions().get::<PrefixReport>().is_some(),
        "the request was rewritten"
    );
    let key = response.into_body().collect().await.unwrap().to_bytes();
    let original = RequestFacts::from_parts(
        &http::Request::post("https://api.example/v1/chat/completions")
            .body(())
            .unwrap()
            .into_parts()
            .0,
        Bytes::from_static(body.as_bytes()),
    );
    assert_ne!(
        key,
        original.canonical_key().unwrap().to_hex(),
        "the key below is the rewritten body's"
    );
}
