//! The seed design's scenario against the mock's prompt-cache emulation:
//! an agent makes 10 sequential calls on one workflow, from a client whose
//! system prompt starts with the current time and whose tool schemas come
//! out in a random key order. Without the layer nothing is cached; with it,
//! calls 2–10 read the static prefix from the provider's cache.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers_connector::HyperConnector;
use llm_layers_core::usage::token_usage_from_json;
use llm_layers_core::{ApiKind, Usage};
use llm_layers_mock::workload::{AgentWorkflow, Prices};
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_prefix::{PrefixReport, PrefixStats, PromptPrefixLayer};
use tower::{Layer, ServiceExt};

const CALLS: usize = 10;

struct Run {
    usages: Vec<Usage>,
    reports: Vec<PrefixReport>,
    stats: Option<PrefixStats>,
}

#[derive(Clone, Copy)]
enum Api {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::OpenAi => "/v1/chat/completions",
            Api::Anthropic => "/v1/messages",
            Api::Gemini => "/v1beta/models/gemini-2.5-flash:generateContent",
        }
    }

    fn kind(self) -> ApiKind {
        match self {
            Api::OpenAi => ApiKind::OpenAiChat,
            Api::Anthropic => ApiKind::AnthropicMessages,
            Api::Gemini => ApiKind::GeminiGenerateContent,
        }
    }

    fn body(self, workflow: &AgentWorkflow, call: usize) -> String {
        match self {
            Api::OpenAi => workflow.openai_chat("gpt-4o", call),
            Api::Anthropic => workflow.anthropic_messages("claude-sonnet-4-5", call),
            Api::Gemini => workflow.gemini_generate(call),
        }
    }
}

async fn run(api: Api, with_layer: bool) -> Run {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let workflow = AgentWorkflow::default();
    let layer = PromptPrefixLayer::default();
    let layered = layer.layer(HyperConnector::builder().build().unwrap());
    let plain = HyperConnector::builder().build().unwrap();
    let mut run = Run {
        usages: Vec::new(),
        reports: Vec::new(),
        stats: with_layer.then(|| layer.stats()),
    };
    for call in 0..CALLS {
        let body = api.body(&workflow, call);
        let request = http::Request::post(format!("{}{}", mock.base_url(), api.path()))
            .header("authorization", "Bearer sk-agent")
            .header("content-length", body.len())
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let (parts, body) = if with_layer {
            let response = layered.clone().oneshot(request).await.unwrap();
            run.reports
                .push(*response.extensions().get::<PrefixReport>().unwrap());
            let (parts, body) = response.into_parts();
            (parts, body.collect().await.unwrap().to_bytes())
        } else {
            let (parts, body) = plain.clone().oneshot(request).await.unwrap().into_parts();
            (parts, body.collect().await.unwrap().to_bytes())
        };
        assert_eq!(parts.status, 200, "{}", String::from_utf8_lossy(&body));
        run.usages
            .push(token_usage_from_json(api.kind(), &body).expect("the mock reports usage"));
    }
    run
}

fn billed(usages: &[Usage], prices: &Prices) -> f64 {
    usages.iter().map(|u| prices.billed_input_tokens(u)).sum()
}

fn check(api: Api, before: &Run, after: &Run, prices: &Prices) {
    assert!(
        before.usages.iter().all(|u| u.cache_read_tokens == 0),
        "without the layer the provider caches nothing"
    );
    let fingerprint = after.reports[0].fingerprint;
    assert!(
        after.reports.iter().all(|r| r.fingerprint == fingerprint),
        "one static prefix across the calls"
    );
    let prefix = after.reports[0].estimated_prefix_tokens;
    assert!(
        prefix > 2_500,
        "the static prefix is estimated at {prefix} tokens"
    );
    for (call, usage) in after.usages.iter().enumerate().skip(1) {
        assert!(
            usage.cache_read_tokens as f64 >= 0.9 * prefix as f64,
            "{api:?} call {}: {} of a {prefix}-token prefix cached",
            call + 1,
            usage.cache_read_tokens,
            api = api as u8,
        );
    }
    let (without, with) = (
        billed(&before.usages, prices),
        billed(&after.usages, prices),
    );
    let saved = 1.0 - with / without;
    assert!(
        saved >= 0.40,
        "billed input fell by {:.1}% ({without} → {with})",
        saved * 100.0
    );
    // The layer's own account agrees with what the provider reported.
    let rows = after.stats.as_ref().unwrap().snapshot();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.requests, CALLS as u64);
    assert_eq!(row.responses_with_usage, CALLS as u64);
    let cached: u64 = after.usages.iter().map(|u| u.cache_read_tokens).sum();
    assert_eq!(row.cached_tokens, cached);
    assert!(row.hit_ratio() > 0.7, "hit ratio {}", row.hit_ratio());
}

#[tokio::test]
async fn openai_calls_two_to_ten_hit_the_provider_cache() {
    let before = run(Api::OpenAi, false).await;
    let after = run(Api::OpenAi, true).await;
    check(Api::OpenAi, &before, &after, &Prices::default());
    assert!(after.reports.iter().all(|r| r.rewrites.prompt_cache_key));
    assert!(after.reports.iter().all(|r| r.rewrites.moved_volatile == 2));
}

#[tokio::test]
async fn anthropic_calls_two_to_ten_hit_through_placed_breakpoints() {
    let before = run(Api::Anthropic, false).await;
    let after = run(Api::Anthropic, true).await;
    assert!(before.usages.iter().all(|u| u.cache_write_tokens == 0));
    check(Api::Anthropic, &before, &after, &Prices::anthropic());
    // The tools alone (about 250 tokens) are below Sonnet's 1024-token
    // minimum: one breakpoint, at the end of the static system prompt.
    assert!(after
        .reports
        .iter()
        .all(|r| r.rewrites.breakpoints_added == 1));
    assert!(
        after.usages[0].cache_write_tokens > 2_500,
        "call 1 writes the prefix"
    );
}

#[tokio::test]
async fn gemini_calls_two_to_ten_hit_its_implicit_cache() {
    let before = run(Api::Gemini, false).await;
    let after = run(Api::Gemini, true).await;
    check(Api::Gemini, &before, &after, &Prices::gemini());
    assert!(after.reports.iter().all(|r| r.rewrites.moved_volatile == 2));
    assert!(after.reports.iter().all(|r| r.minimum_tokens == 1024));
}
