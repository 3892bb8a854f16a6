//! The seed design's prompt-caching scenario, measured: an agent makes 10
//! sequential calls on one workflow (about 2,800 static tokens, a 200-token
//! task) from a client whose system prompt starts with the current time and
//! whose tool schemas come out in random key order. The same calls go to
//! the mock's emulated provider prompt cache without and with
//! `PromptPrefixLayer`, for an OpenAI-shaped and an Anthropic-shaped client.
//!
//! ```text
//! cargo run --example prompt_prefix [-- --price 5 --cached 0.5]
//! ```
//! `--price`: dollars per million input tokens (default 5); `--cached`:
//! the price of a cached token as a share (OpenAI default 0.5; Anthropic is
//! shown at its own 0.1 for reads and 1.25 for writes).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use llm_layers::connector::HyperConnector;
use llm_layers::core::usage::token_usage_from_json;
use llm_layers::core::{ApiKind, Usage};
use llm_layers::prefix::PromptPrefixLayer;
use llm_layers_mock::workload::{AgentWorkflow, Prices};
use llm_layers_mock::{MockConfig, MockServer};
use tower::{Layer, Service, ServiceExt};

const CALLS: usize = 10;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut openai_prices = Prices::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value: f64 = args.next().ok_or("a flag needs a value")?.parse()?;
        match flag.as_str() {
            "--price" => openai_prices.input_per_million = value,
            "--cached" => openai_prices.cached_factor = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let anthropic_prices = Prices {
        input_per_million: openai_prices.input_per_million,
        ..Prices::anthropic()
    };
    let workflow = AgentWorkflow::default();

    for (title, kind, path, prices) in [
        (
            "OpenAI chat (gpt-4o)",
            ApiKind::OpenAiChat,
            "/v1/chat/completions",
            openai_prices,
        ),
        (
            "Anthropic messages (claude-sonnet-4-5)",
            ApiKind::AnthropicMessages,
            "/v1/messages",
            anthropic_prices,
        ),
    ] {
        let body = |call| match kind {
            ApiKind::OpenAiChat => workflow.openai_chat("gpt-4o", call),
            _ => workflow.anthropic_messages("claude-sonnet-4-5", call),
        };
        let plain = HyperConnector::builder().build()?;
        let before = run(plain, kind, path, &body).await?;
        let layer = PromptPrefixLayer::default();
        let after = run(
            layer.layer(HyperConnector::builder().build()?),
            kind,
            path,
            &body,
        )
        .await?;
        print(title, &before, &after, &prices);
        if let Some(row) = layer.stats().snapshot().first() {
            println!(
                "  layer's account: prefix {} of ~{} tokens, {} requests, hit ratio {:.1}% of input",
                row.fingerprint.map_or("other".into(), |f| f.to_string()),
                row.estimated_prefix_tokens,
                row.requests,
                row.hit_ratio() * 100.0
            );
        }
        println!();
    }
    Ok(())
}

/// Sends the calls to a fresh mock through `service`; the usage the mock reported.
async fn run<S, B>(
    service: S,
    kind: ApiKind,
    path: &str,
    body: &dyn Fn(usize) -> String,
) -> Result<Vec<Usage>, BoxError>
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let mock = MockServer::start(MockConfig::default()).await?;
    let mut usages = Vec::new();
    for call in 0..CALLS {
        let request = http::Request::post(format!("{}{path}", mock.base_url()))
            .header("authorization", "Bearer sk-demo")
            .body(Full::new(Bytes::from(body(call))))?;
        let response = service.clone().oneshot(request).await.map_err(Into::into)?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(Into::into)?
            .to_bytes();
        usages.push(token_usage_from_json(kind, &bytes).ok_or("no usage in the answer")?);
    }
    Ok(usages)
}

fn print(title: &str, before: &[Usage], after: &[Usage], prices: &Prices) {
    println!("{title}: {CALLS} sequential calls, same workflow");
    println!(
        "  {:>4} | {:>12} {:>8} {:>10} | {:>12} {:>8} {:>10}",
        "call", "input", "cached", "billed", "input", "cached", "billed"
    );
    println!(
        "  {:>4} | {:^32} | {:^32}",
        "", "without the layer", "with PromptPrefixLayer"
    );
    for (call, (b, a)) in before.iter().zip(after).enumerate() {
        println!(
            "  {:>4} | {:>12} {:>8} {:>10.0} | {:>12} {:>8} {:>10.0}",
            call + 1,
            b.input_tokens,
            b.cache_read_tokens,
            prices.billed_input_tokens(b),
            a.input_tokens,
            a.cache_read_tokens,
            prices.billed_input_tokens(a),
        );
    }
    let total = |usages: &[Usage]| -> (u64, u64, f64, f64) {
        (
            usages.iter().map(|u| u.input_tokens).sum(),
            usages.iter().map(|u| u.cache_read_tokens).sum(),
            usages.iter().map(|u| prices.billed_input_tokens(u)).sum(),
            usages.iter().map(|u| prices.input_cost(u)).sum(),
        )
    };
    let (b, a) = (total(before), total(after));
    println!(
        "  {:>4} | {:>12} {:>8} {:>10.0} | {:>12} {:>8} {:>10.0}",
        "sum", b.0, b.1, b.2, a.0, a.1, a.2
    );
    println!(
        "  input cost: ${:.4} without, ${:.4} with: {:.1}% less (${:.2} per million input, cached at {:.0}%{})",
        b.3,
        a.3,
        (1.0 - a.3 / b.3) * 100.0,
        prices.input_per_million,
        prices.cached_factor * 100.0,
        if prices.cache_write_factor != 1.0 {
            format!(", cache writes at {:.0}%", prices.cache_write_factor * 100.0)
        } else {
            String::new()
        }
    );
}
