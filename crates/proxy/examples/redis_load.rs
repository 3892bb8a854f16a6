//! Proxies sharing one Redis, on loopback: a hit's and a miss's latency
//! through the proxy with the memory store and with Redis (one request at
//! a time, as Helicone published theirs), then two replicas under load on
//! one Redis, sharing what either one stored.
//!
//! ```text
//! cargo run --release -p llm-layers-proxy --example redis_load [-- REQUESTS CONCURRENCY DISTINCT]
//! ```
//! Defaults: 2,000 sequential requests per latency row; then 20,000
//! requests at concurrency 32 (16 per replica) over 2,000 distinct
//! prompts. Starts its own `redis-server` on a free port and the mock
//! provider (no added latency) in this process, with the proxies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers_mock::testing::RedisServer;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::config::{CacheSection, StoreKind};
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn chat_body(n: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"redis load request {n}"}}]}}"#
    ))
}

/// One request, timed until its body has been read; whether it was a hit.
async fn call(client: &HttpClient, url: &str, body: Bytes) -> (Duration, bool) {
    let request = http::Request::post(url)
        .header("authorization", "Bearer sk-load")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a valid request");
    let started = Instant::now();
    let response = client.request(request).await.expect("the request succeeds");
    assert!(response.status().is_success(), "{}", response.status());
    let hit = response.headers()["x-llm-cache"] == "HIT";
    response.into_body().collect().await.expect("the body");
    (started.elapsed(), hit)
}

async fn proxy(mock: &MockServer, cache: CacheSection) -> RunningProxy {
    let config = ProxyConfig::default()
        .listen("127.0.0.1:0".parse().expect("an address"))
        .upstream(mock.base_url())
        .cache(cache);
    start(config).await.expect("the proxy starts")
}

fn redis_cache(redis: &RedisServer, namespace: &str) -> CacheSection {
    CacheSection::default()
        .store(StoreKind::Redis)
        .redis_url(redis.url())
        .redis_namespace(namespace.to_owned())
}

fn micros(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64
}

/// `requests` sequential requests; `first` numbers the bodies (`None`: the same body each time).
async fn sequential(
    client: &HttpClient,
    url: &str,
    requests: u64,
    first: Option<u64>,
) -> Histogram<u64> {
    let mut latency = Histogram::<u64>::new(3).expect("a histogram");
    for i in 0..requests {
        let (took, _) = call(client, url, chat_body(first.map_or(0, |f| f + i))).await;
        latency.record(took.as_micros() as u64).expect("recorded");
    }
    latency
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let requests = args.first().copied().unwrap_or(20_000);
    let concurrency = args.get(1).copied().unwrap_or(32) as usize;
    let distinct = args.get(2).copied().unwrap_or(2_000);
    let rows = 2_000;
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default())
        .await
        .expect("the mock");
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency * 2)
        .build_http();

    let memory = proxy(&mock, CacheSection::default()).await;
    let shared = proxy(&mock, redis_cache(&redis, "latency")).await;
    let tiered = proxy(&mock, redis_cache(&redis, "tiered").memory_tier(true)).await;
    println!("latency through the proxy, one request at a time, {rows} requests per row (µs)");
    println!("| store | hit p50 | hit p99 | miss p50 | miss p99 |");
    println!("|---|---|---|---|---|");
    let mut miss_p50 = Vec::new();
    for (index, (name, proxy)) in [
        ("memory", &memory),
        ("redis", &shared),
        ("memory+redis", &tiered),
    ]
    .into_iter()
    .enumerate()
    {
        let url = format!("{}/v1/chat/completions", proxy.url());
        call(&client, &url, chat_body(0)).await; // the entry the hits read
        tokio::time::sleep(Duration::from_millis(50)).await;
        let hits = sequential(&client, &url, rows, None).await;
        let misses = sequential(&client, &url, rows, Some(1_000_000 * (index as u64 + 1))).await;
        miss_p50.push(micros(&misses, 0.5));
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
            micros(&hits, 0.5),
            micros(&hits, 0.99),
            micros(&misses, 0.5),
            micros(&misses, 0.99)
        );
    }
    println!(
        "a miss with Redis adds {:.0} µs (p50) to a miss with the memory store",
        miss_p50[1] - miss_p50[0]
    );

    // Two replicas on one Redis, half the callers on each.
    let replicas = [
        proxy(&mock, redis_cache(&redis, "load")).await,
        proxy(&mock, redis_cache(&redis, "load")).await,
    ];
    mock.reset();
    let next = Arc::new(AtomicU64::new(0));
    let hits = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let url = format!("{}/v1/chat/completions", replicas[worker % 2].url());
            let (client, next, hits) = (client.clone(), next.clone(), hits.clone());
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).expect("a histogram");
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests {
                        return latency;
                    }
                    // Spread over the distinct prompts, each asked on both replicas.
                    let prompt = 10_000_000 + (n * 7919) % distinct;
                    let (took, hit) = call(&client, &url, chat_body(prompt)).await;
                    hits.fetch_add(hit as u64, Ordering::Relaxed);
                    latency.record(took.as_micros() as u64).expect("recorded");
                }
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3).expect("a histogram");
    for worker in workers {
        latency
            .add(worker.await.expect("a worker"))
            .expect("merged");
    }
    let elapsed = started.elapsed();
    println!(
        "two replicas on one Redis: {requests} requests at concurrency {concurrency} over {distinct} distinct prompts in {:.2} s: {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs, {} hits, {} upstream calls",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        micros(&latency, 0.5),
        micros(&latency, 0.99),
        hits.load(Ordering::Relaxed),
        mock.stats().requests_to("/v1/chat/completions"),
    );
}
