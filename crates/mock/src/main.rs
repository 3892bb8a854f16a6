//! `llm-layers-mock`: run the provider double on its own.
//!
//! ```text
//! cargo run -p llm-layers-mock -- --port 8080 [--tls] [--latency-ms N] [--chunk-delay-ms N]
//! ```

use std::time::Duration;

use clap::Parser;
use llm_layers_mock::{Fault, MockConfig, MockServer};

/// A mock of the OpenAI and Anthropic HTTP APIs with prompt-cache emulation
/// and fault injection.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Serve HTTPS with a self-signed certificate (its PEM is printed).
    #[arg(long)]
    tls: bool,
    /// Delay before each response head, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Delay after accepting each connection, in milliseconds.
    #[arg(long, default_value_t = 0)]
    connect_delay_ms: u64,
    /// Emulated OpenAI prompt-cache TTL, in seconds.
    #[arg(long, default_value_t = 300)]
    prompt_cache_ttl_s: u64,
    /// Inject this fault into every request: 429, 500, 503, 529, reset, cut, stall.
    #[arg(long)]
    fault: Option<Fault>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = MockConfig::default()
        .port(args.port)
        .tls(args.tls)
        .latency(Duration::from_millis(args.latency_ms))
        .chunk_delay(Duration::from_millis(args.chunk_delay_ms))
        .connect_delay(Duration::from_millis(args.connect_delay_ms))
        .prompt_cache_ttl(Duration::from_secs(args.prompt_cache_ttl_s))
        .fault(args.fault);
    let server = MockServer::start(config).await?;
    if let Some(pem) = server.certificate_pem() {
        println!("{pem}");
    }
    println!("llm-layers-mock listening on {}", server.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
