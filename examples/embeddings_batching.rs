//! Embeddings coalescing, measured: 1,000 embeddings calls from 64
//! concurrent callers against the mock with a per-request latency, through
//! the stack with and without the batch layer. Upstream requests and wall
//! time for each, in one run.
//!
//! `cargo run --release --example embeddings_batching [-- CALLS CONCURRENCY LATENCY_MS]`
//! (defaults 1000, 64, 50)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use llm_layers::batch::{BatchConfig, EmbeddingsBatchLayer};
use llm_layers::stack::{full_body, LlmStack, StackBody, StackService};
use llm_layers_mock::{MockConfig, MockServer};
use tower::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One call (a named function: a spawned task cannot prove the boxed
/// service's higher-ranked bounds through `oneshot`).
async fn send(
    mut client: StackService,
    request: http::Request<StackBody>,
) -> Result<http::Response<StackBody>, BoxError> {
    std::future::poll_fn(|cx| client.poll_ready(cx)).await?;
    client.call(request).await
}

async fn run(
    client: StackService,
    mock: &MockServer,
    calls: usize,
    concurrency: usize,
) -> Result<Duration, BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, url) = (
                client.clone(),
                next.clone(),
                format!("{}/v1/embeddings", mock.base_url()),
            );
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= calls {
                        return Ok::<_, BoxError>(());
                    }
                    let body = format!(
                        r#"{{"model":"text-embedding-3-small","input":"document number {n}"}}"#
                    );
                    let request: http::Request<StackBody> = http::Request::post(&url)
                        .header("authorization", "Bearer sk-bench")
                        .body(full_body(body))?;
                    let response = send(client.clone(), request).await?;
                    assert!(response.status().is_success());
                    response.into_body().collect().await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let calls = args.first().copied().unwrap_or(1000);
    let concurrency = args.get(1).copied().unwrap_or(64);
    let latency = Duration::from_millis(args.get(2).copied().unwrap_or(50) as u64);
    let mock = MockServer::start(MockConfig::default().latency(latency)).await?;
    println!(
        "{calls} embeddings calls, {concurrency} concurrent callers, {} ms per upstream request\n",
        latency.as_millis()
    );
    println!("| | upstream requests | wall time |");
    println!("|---|---|---|");
    let mut times = Vec::new();
    for (name, batch) in [
        ("without coalescing", None),
        (
            "with coalescing (2 ms window)",
            Some(EmbeddingsBatchLayer::new(BatchConfig::default())),
        ),
    ] {
        mock.reset();
        let client = LlmStack::bare().with_batch(batch).over_connector()?;
        let took = run(client, &mock, calls, concurrency).await?;
        times.push(took);
        println!(
            "| {name} | {} | {:.2} s |",
            mock.stats().requests_to("/v1/embeddings"),
            took.as_secs_f64()
        );
    }
    println!(
        "\nwall time with coalescing: {:.2} of without",
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
    Ok(())
}
