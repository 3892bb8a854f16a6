//! The main job: the seed design's "combined impact" table, measured.
//!
//! An agent makes 10 sequential calls on one workflow (about 2,800 tokens
//! of tools, instructions and workflow structure, a 200-token task that
//! changes every call), then repeats its last call. The mock provider runs
//! on loopback with TLS and realistic simulated costs: 150 ms of network
//! round trips per new connection before its TLS handshake, 250 ms to first
//! byte, and 150 ms of prefill per 1,000 prompt tokens its emulated prompt
//! cache does not serve.
//!
//! - **Before**: no layers, a new connection per call, and the client's
//!   cache-hostile prompts (the current time and a request id at the top of
//!   the system prompt, tool schemas in random key order).
//! - **After**: the same client through `LlmStack` (metrics, response
//!   cache, prompt-prefix repair, pooled connector).
//!
//! The same workflow then runs against Anthropic's Messages API and
//! Gemini's `generateContent` (each with its prompt-cache rules emulated
//! by the mock), beside OpenAI's, and a table compares the three.
//!
//! Every figure is measured: latency by the clock, tokens from the usage
//! the provider reported, connections from the connector's and the mock's
//! counters.
//!
//! `cargo run --example demo`

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use llm_layers::connector::HyperConnector;
use llm_layers::core::usage::token_usage_from_json;
use llm_layers::core::{ApiKind, Usage};
use llm_layers::metrics::PriceTable;
use llm_layers::stack::{full_body, LlmStack, StackService};
use llm_layers_mock::workload::{AgentWorkflow, Prices};
use llm_layers_mock::{MockConfig, MockServer};
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CALLS: usize = 10;
const MODEL: &str = "gpt-4o";

/// The provider APIs the workflow runs against.
#[derive(Clone, Copy, Debug)]
enum Api {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::OpenAi => "OpenAI gpt-4o",
            Api::Anthropic => "Anthropic claude-sonnet-4-5",
            Api::Gemini => "Gemini gemini-2.5-flash",
        }
    }

    fn kind(self) -> ApiKind {
        match self {
            Api::OpenAi => ApiKind::OpenAiChat,
            Api::Anthropic => ApiKind::AnthropicMessages,
            Api::Gemini => ApiKind::GeminiGenerateContent,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Api::OpenAi => "/v1/chat/completions",
            Api::Anthropic => "/v1/messages",
            Api::Gemini => "/v1beta/models/gemini-2.5-flash:generateContent",
        }
    }

    fn credential(self) -> (&'static str, &'static str) {
        match self {
            Api::OpenAi => ("authorization", "Bearer sk-demo"),
            Api::Anthropic => ("x-api-key", "sk-ant-demo"),
            Api::Gemini => ("x-goog-api-key", "AIza-demo"),
        }
    }

    fn body(self, workflow: &AgentWorkflow, call: usize) -> String {
        match self {
            Api::OpenAi => workflow.openai_chat(MODEL, call),
            Api::Anthropic => workflow.anthropic_messages("claude-sonnet-4-5", call),
            Api::Gemini => workflow.gemini_generate(call),
        }
    }

    /// The model's list price, from the metrics layer's price table.
    fn model(self) -> &'static str {
        match self {
            Api::OpenAi => MODEL,
            Api::Anthropic => "claude-sonnet-4-5",
            Api::Gemini => "gemini-2.5-flash",
        }
    }

    /// Dollars of a call's input (prompt tokens, cached and written
    /// included) at the model's list price.
    fn input_cost(self, usage: &Usage) -> f64 {
        let table = PriceTable::default();
        let price = table
            .price(self.model())
            .expect("the shipped table prices the demo's models");
        price
            .cost(&Usage {
                output_tokens: 0,
                ..usage.clone()
            })
            .spent
    }

    fn prices(self) -> Prices {
        match self {
            Api::OpenAi => Prices::default(),
            Api::Anthropic => Prices::anthropic(),
            Api::Gemini => Prices::gemini(),
        }
    }
}

/// One call as the application saw it.
struct Call {
    latency: Duration,
    usage: Usage,
    cache: Option<String>,
}

/// One side of the comparison.
struct Side {
    calls: Vec<Call>,
    repeat: Call,
    connections: u64,
}

fn mock_config() -> MockConfig {
    MockConfig::default()
        .tls(true)
        .connect_delay(Duration::from_millis(150))
        .latency(Duration::from_millis(250))
        .prefill_per_1k_tokens(Duration::from_millis(150))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    println!("10 sequential agent calls on one workflow, then the last call repeated.");
    println!("Mock provider: TLS on loopback, 150 ms connection set-up, 250 ms to first byte,");
    println!("150 ms prefill per 1,000 uncached prompt tokens, OpenAI prompt-cache emulation.\n");

    let (openai, anthropic, gemini) = tokio::join!(
        before_and_after(Api::OpenAi),
        before_and_after(Api::Anthropic),
        before_and_after(Api::Gemini),
    );
    let ((before, after, stack), anthropic, gemini) = (openai?, anthropic?, gemini?);

    print_calls(&before, &after);
    print_table(&before, &after, &Prices::default());
    print_providers(&[
        (Api::OpenAi, &before, &after),
        (Api::Anthropic, &anthropic.0, &anthropic.1),
        (Api::Gemini, &gemini.0, &gemini.1),
    ]);
    if let Some(row) = stack
        .prefix()
        .and_then(|p| p.stats().snapshot().into_iter().next())
    {
        println!(
            "\nPrompt prefix {}: ~{} static tokens, {} requests, {:.1}% of prompt tokens served from the provider cache.",
            row.fingerprint.map_or("other".into(), |f| f.to_string()),
            row.estimated_prefix_tokens,
            row.requests,
            row.hit_ratio() * 100.0
        );
    }
    if let Some(metrics) = stack.metrics() {
        let snapshot = metrics.stats().snapshot();
        if let Some(model) = snapshot.by_model.get(MODEL) {
            println!(
                "Metrics layer: {} calls, p50 {:.0} ms, p95 {:.0} ms, cache hit rate {:.0}%, {} input tokens saved by the response cache.",
                model.calls,
                model.latency_p50,
                model.latency_p95,
                snapshot.cache_hit_rate * 100.0,
                model.tokens_saved.input
            );
        }
    }
    Ok(())
}

/// The workflow against `api`: without the layers (a new connection per
/// call), then through `LlmStack`; each side on a mock of its own.
async fn before_and_after(api: Api) -> Result<(Side, Side, LlmStack), BoxError> {
    let before = {
        let mock = MockServer::start(mock_config()).await?;
        // No pooling: every call opens (and pays for) a new connection.
        let connector = HyperConnector::builder()
            .add_root_certificate(mock.certificate_der().ok_or("TLS is on")?.clone())
            .max_idle_per_host(0)
            .build()?;
        let client = LlmStack::bare().service(connector.clone());
        let side = run(api, &client, &mock).await?;
        Side {
            connections: connector.stats().opened,
            ..side
        }
    };
    let mock = MockServer::start(mock_config()).await?;
    let connector = HyperConnector::builder()
        .add_root_certificate(mock.certificate_der().ok_or("TLS is on")?.clone())
        .build()?;
    let stack = LlmStack::new();
    let client = stack.clone().service(connector.clone());
    let side = run(api, &client, &mock).await?;
    let after = Side {
        connections: connector.stats().opened,
        ..side
    };
    Ok((before, after, stack))
}

/// The 10 workflow calls and the repeat, through `client`.
async fn run(api: Api, client: &StackService, mock: &MockServer) -> Result<Side, BoxError> {
    let workflow = AgentWorkflow::default();
    let mut calls = Vec::new();
    for call in 0..CALLS {
        calls.push(send(api, client, mock, api.body(&workflow, call)).await?);
    }
    // The agent asks its last question again (a retry, a re-render).
    let repeat = send(api, client, mock, api.body(&workflow, CALLS - 1)).await?;
    Ok(Side {
        calls,
        repeat,
        connections: mock.stats().connections,
    })
}

async fn send(
    api: Api,
    client: &StackService,
    mock: &MockServer,
    body: String,
) -> Result<Call, BoxError> {
    let (header, credential) = api.credential();
    let request = http::Request::post(format!("{}{}", mock.base_url(), api.path()))
        .header(header, credential)
        .header("content-type", "application/json")
        .body(full_body(body))?;
    let started = Instant::now();
    let response = client.clone().oneshot(request).await?;
    let cache = response
        .headers()
        .get("x-llm-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response.into_body().collect().await?.to_bytes();
    let latency = started.elapsed();
    let mut usage = token_usage_from_json(api.kind(), &bytes).ok_or("no usage")?;
    if cache.as_deref() == Some("HIT") {
        // Answered from the response cache: the provider billed nothing.
        usage = Usage::default();
    }
    Ok(Call {
        latency,
        usage,
        cache,
    })
}

/// The three providers side by side: latency, input billed and its cost
/// over the 10 calls, before and after.
fn print_providers(rows: &[(Api, &Side, &Side)]) {
    println!("\nThe same workflow against each provider's API (10 calls, measured):\n");
    println!("| Provider | Total latency | Input tokens billed | Input cost | Served from the provider cache (after) |");
    println!("|---|---|---|---|---|");
    for (api, before, after) in rows {
        let prices = api.prices();
        let total = |side: &Side| {
            side.calls
                .iter()
                .map(|c| c.latency)
                .sum::<Duration>()
                .as_secs_f64()
        };
        let billed = |side: &Side| {
            side.calls
                .iter()
                .map(|c| prices.billed_input_tokens(&c.usage))
                .sum::<f64>()
        };
        let cost = |side: &Side| {
            side.calls
                .iter()
                .map(|c| api.input_cost(&c.usage))
                .sum::<f64>()
        };
        let cached: u64 = after.calls.iter().map(|c| c.usage.cache_read_tokens).sum();
        let drop = |b: f64, a: f64| (1.0 - a / b) * 100.0;
        println!(
            "| {} | {:.2} s → {:.2} s ({:.0}% faster) | {:.0} → {:.0} ({:.0}% fewer) | ${:.4} → ${:.4} | {} tokens |",
            api.name(),
            total(before),
            total(after),
            drop(total(before), total(after)),
            billed(before),
            billed(after),
            drop(billed(before), billed(after)),
            cost(before),
            cost(after),
            cached,
        );
    }
    let meta = PriceTable::default().meta().clone();
    println!(
        "\nInput tokens billed are weighted by each provider's cache discount: cached reads at 50% (OpenAI), 10% with writes at 125% (Anthropic), 25% (Gemini 2.5 implicit caching). Costs are list prices from the metrics layer's price table ({}).",
        meta.date
    );
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

fn print_calls(before: &Side, after: &Side) {
    println!(
        "{:>6} | {:>9} {:>7} {:>7} | {:>9} {:>7} {:>7} {:>5}",
        "call", "latency", "input", "cached", "latency", "input", "cached", "cache"
    );
    println!("{:>6} | {:^25} | {:^31}", "", "before", "after");
    let rows = before.calls.iter().zip(&after.calls).enumerate();
    let repeat = std::iter::once(("repeat".to_owned(), (&before.repeat, &after.repeat)));
    for (label, (b, a)) in rows
        .map(|(i, pair)| ((i + 1).to_string(), pair))
        .chain(repeat)
    {
        println!(
            "{:>6} | {:>9} {:>7} {:>7} | {:>9} {:>7} {:>7} {:>5}",
            label,
            ms(b.latency),
            b.usage.input_tokens,
            b.usage.cache_read_tokens,
            ms(a.latency),
            a.usage.input_tokens,
            a.usage.cache_read_tokens,
            a.cache.as_deref().unwrap_or("-"),
        );
    }
    println!();
}

fn print_table(before: &Side, after: &Side, prices: &Prices) {
    let total = |side: &Side| side.calls.iter().map(|c| c.latency).sum::<Duration>();
    let billed = |side: &Side| -> f64 {
        side.calls
            .iter()
            .map(|c| prices.billed_input_tokens(&c.usage))
            .sum()
    };
    let cached = |side: &Side| {
        side.calls
            .iter()
            .map(|c| c.usage.cache_read_tokens)
            .sum::<u64>()
    };
    let cost = |side: &Side| {
        side.calls
            .iter()
            .map(|c| Api::OpenAi.input_cost(&c.usage))
            .sum::<f64>()
    };
    let hits = |side: &Side| {
        side.calls
            .iter()
            .chain([&side.repeat])
            .filter(|c| c.cache.as_deref() == Some("HIT"))
            .count()
    };
    let better = |b: f64, a: f64, word: &str| format!("{:.0}% {word}", (1.0 - a / b) * 100.0);
    println!("Combined impact, 10 sequential calls (measured):\n");
    println!("| Metric | Before | After | Improvement |");
    println!("|---|---|---|---|");
    let (tb, ta) = (total(before), total(after));
    println!(
        "| Total latency | {:.2} s | {:.2} s | {} |",
        tb.as_secs_f64(),
        ta.as_secs_f64(),
        better(tb.as_secs_f64(), ta.as_secs_f64(), "faster")
    );
    println!(
        "| Input tokens billed (cached at {:.0}%) | {:.0} | {:.0} | {} |",
        prices.cached_factor * 100.0,
        billed(before),
        billed(after),
        better(billed(before), billed(after), "fewer")
    );
    println!(
        "| Prompt tokens served from the provider cache | {} | {} | |",
        cached(before),
        cached(after)
    );
    println!(
        "| Input cost ({MODEL} list price) | ${:.4} | ${:.4} | {} |",
        cost(before),
        cost(after),
        better(cost(before), cost(after), "cheaper")
    );
    println!(
        "| Connections opened (11 calls) | {} | {} | |",
        before.connections, after.connections
    );
    println!(
        "| Repeated call: latency, tokens billed | {}, {} | {}, {} | response-cache hit |",
        ms(before.repeat.latency),
        before.repeat.usage.input_tokens,
        ms(after.repeat.latency),
        after.repeat.usage.input_tokens
    );
    println!(
        "| Response-cache hits | {} | {} | |",
        hits(before),
        hits(after)
    );
}
