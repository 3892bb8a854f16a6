//! A load test on loopback, bounded in requests and time: requests per
//! second and latency percentiles at one concurrency for
//!
//! - (a) the client straight to the mock,
//! - (b) a bare pass-through hyper proxy (pooled client, no layers),
//! - (c) the full proxy on misses (every request unique),
//! - (d) the full proxy on hits (one request, cached),
//!
//! then p50 / p99 at a fixed offered rate (open loop: latency counts from
//! each request's scheduled start, so queueing is not hidden).
//!
//! ```text
//! cargo run --release -p llm-layers-proxy --example load_test [-- REQUESTS CONCURRENCY RATE SECONDS]
//! ```
//! Defaults: 20,000 requests per scenario, 16 concurrent, 1,000 requests per
//! second for 5 seconds. The mock adds no latency. Scenarios (a) to (c) run
//! in turn in `LOAD_TEST_ROUNDS` rounds (default 5), and the miss ratio is
//! the median of the rounds' ratios.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn client(concurrency: usize) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency * 2)
        .build_http()
}

fn chat_body(unique: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"load test request {unique}"}}]}}"#
    ))
}

/// One request, timed until its body has been read.
async fn call(client: &HttpClient, url: &str, body: Bytes) -> Duration {
    let request = http::Request::post(url)
        .header("authorization", "Bearer sk-load")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a valid request");
    let started = Instant::now();
    let response = client.request(request).await.expect("the request succeeds");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    response
        .into_body()
        .collect()
        .await
        .expect("the body arrives");
    started.elapsed()
}

struct Outcome {
    rps: f64,
    latency: Histogram<u64>,
}

/// `requests` requests from `concurrency` workers; `unique` makes every body different.
async fn closed_loop(url: &str, requests: u64, concurrency: usize, unique: bool) -> Outcome {
    closed_loop_from(url, 0, requests, concurrency, unique).await
}

/// Like [`closed_loop`], the unique bodies numbered after `first` (so that
/// rounds against the same proxy never repeat one).
async fn closed_loop_from(
    url: &str,
    first: u64,
    requests: u64,
    concurrency: usize,
    unique: bool,
) -> Outcome {
    let client = client(concurrency);
    // Warm the pool (and, for hits, the cache).
    for _ in 0..concurrency {
        call(&client, url, chat_body(0)).await;
    }
    let requests = first + requests;
    let next = Arc::new(AtomicU64::new(first + 1));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.to_owned(), next.clone());
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).expect("a valid histogram");
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n > requests {
                        return latency;
                    }
                    let body = chat_body(if unique { n } else { 0 });
                    let took = call(&client, &url, body).await;
                    latency.record(took.as_micros() as u64).expect("in range");
                }
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3).expect("a valid histogram");
    for worker in workers {
        latency
            .add(worker.await.expect("a worker finishes"))
            .expect("same bounds");
    }
    Outcome {
        rps: (requests - first) as f64 / started.elapsed().as_secs_f64(),
        latency,
    }
}

/// Scenarios (a), (b) and (c) measured in turn, `rounds` times, so that
/// the machine's drift (these machines are shared) reaches all three
/// alike; each round gives one ratio of added latency, and the median of
/// those is the figure. The outcomes add up the rounds.
async fn interleaved(
    urls: [&str; 3],
    requests: u64,
    concurrency: usize,
    rounds: u64,
) -> ([Outcome; 3], Vec<f64>) {
    let per_round = (requests / rounds).max(1);
    let mut totals: [Option<Outcome>; 3] = [None, None, None];
    let mut seconds = [0.0; 3];
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let mut p50 = [0.0; 3];
        for (i, url) in urls.iter().enumerate() {
            let outcome =
                closed_loop_from(url, round * per_round, per_round, concurrency, true).await;
            p50[i] = outcome.latency.value_at_quantile(0.5) as f64;
            seconds[i] += per_round as f64 / outcome.rps;
            match &mut totals[i] {
                None => totals[i] = Some(outcome),
                Some(total) => total.latency.add(&outcome.latency).expect("same bounds"),
            }
        }
        ratios.push((p50[2] - p50[0]) / (p50[1] - p50[0]));
    }
    let totals = std::array::from_fn(|i| {
        let mut total = totals[i].take().expect("at least one round");
        total.rps = (rounds * per_round) as f64 / seconds[i];
        total
    });
    (totals, ratios)
}

/// `rate` requests per second for `seconds`, each started on schedule.
async fn open_loop(url: &str, rate: u64, seconds: u64) -> Histogram<u64> {
    let client = client(64);
    call(&client, url, chat_body(0)).await;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    let mut lag = Duration::ZERO;
    for i in 0..rate * seconds {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        // Tokio's timer ticks in milliseconds: a request leaves up to 1 ms
        // after its slot. Latency is counted from when it leaves, and the
        // worst lag is reported, so a generator falling behind would show.
        lag = lag.max(scheduled.elapsed());
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            call(&client, &url, chat_body(0)).await
        }));
    }
    let mut latency = Histogram::<u64>::new(3).expect("a valid histogram");
    for task in tasks {
        let took = task.await.expect("a request finishes");
        latency.record(took.as_micros() as u64).expect("in range");
    }
    println!("open loop: worst departure lag behind schedule {lag:?}");
    latency
}

/// A bare pass-through proxy: hyper server, pooled hyper client, no layers.
async fn bare_proxy(upstream: String, concurrency: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency * 2)
        .build_http::<Incoming>();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (client, upstream) = (client.clone(), upstream.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: http::Request<Incoming>| {
                        let (client, upstream) = (client.clone(), upstream.clone());
                        async move {
                            let (mut parts, body) = request.into_parts();
                            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                            parts.uri = format!("{upstream}{path}").parse().expect("a valid URI");
                            parts.headers.remove(http::header::HOST);
                            let response = client
                                .request(http::Request::from_parts(parts, body))
                                .await
                                .expect("the upstream answers");
                            Ok::<_, Infallible>(response)
                        }
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

/// Which layers (cache, prefix, metrics) a partial proxy named so runs:
/// `none`, or layer names joined by `+` (`cache+prefix`).
fn partial_layers(name: &str) -> Option<(bool, bool, bool)> {
    if name == "none" {
        return Some((false, false, false));
    }
    let mut layers = (false, false, false);
    for layer in name.split('+') {
        match layer {
            "cache" => layers.0 = true,
            "prefix" => layers.1 = true,
            "metrics" => layers.2 = true,
            _ => return None,
        }
    }
    Some(layers)
}

/// The proxy with only some of its layers.
async fn partial_proxy(
    upstream: &str,
    (cache, prefix, metrics): (bool, bool, bool),
) -> llm_layers_proxy::RunningProxy {
    let mut config = ProxyConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        upstream: upstream.to_owned(),
        ..ProxyConfig::default()
    };
    config.cache.enabled = cache;
    config.prefix.enabled = prefix;
    config.metrics.enabled = metrics;
    start(config).await.expect("the proxy starts")
}

/// One row: misses through a proxy with only the layers `name` names.
async fn partial_row(name: &str, upstream: &str, path: &str, requests: u64, concurrency: usize) {
    let layers = partial_layers(name).expect("a known layer name");
    let partial = partial_proxy(upstream, layers).await;
    let url = format!("{}{path}", partial.url());
    let outcome = closed_loop(&url, requests, concurrency, true).await;
    println!(
        "| {name} | {:.0} | {} | {} |",
        outcome.rps,
        ms(outcome.latency.value_at_quantile(0.5)),
        ms(outcome.latency.value_at_quantile(0.99))
    );
    partial.shutdown().await.expect("a clean shutdown");
}

fn ms(micros: u64) -> String {
    format!("{:.3} ms", micros as f64 / 1000.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(20_000);
    let concurrency = args.get(1).copied().unwrap_or(16) as usize;
    let rate = args.get(2).copied().unwrap_or(1_000);
    let seconds = args.get(3).copied().unwrap_or(5);

    let mock = MockServer::start(MockConfig::default())
        .await
        .expect("the mock starts");
    let bare = bare_proxy(mock.base_url().to_owned(), concurrency).await;
    let mut full_config = ProxyConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        upstream: mock.base_url().to_owned(),
        ..ProxyConfig::default()
    };
    if let Some(entries) = std::env::var("LOAD_TEST_MAX_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        full_config.cache.max_entries = entries;
    }
    let proxy = start(full_config).await.expect("the proxy starts");
    let path = "/v1/chat/completions";

    println!(
        "{requests} requests per scenario, {concurrency} concurrent, mock with no added latency\n"
    );
    println!("| scenario | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    let scenarios = [
        (
            "(a) client → mock",
            format!("{}{path}", mock.base_url()),
            true,
        ),
        ("(b) bare pass-through proxy", format!("{bare}{path}"), true),
        (
            "(c) full proxy, misses",
            format!("{}{path}", proxy.url()),
            true,
        ),
        (
            "(d) full proxy, hits",
            format!("{}{path}", proxy.url()),
            false,
        ),
    ];
    let mut p50 = Vec::new();
    // LOAD_TEST_ONLY=c runs one scenario (for profiling); `none`, `metrics`,
    // `cache`, `prefix` or a `+` combination (`cache+prefix`) runs the proxy
    // on misses with only those layers.
    let only = std::env::var("LOAD_TEST_ONLY").ok();
    if let Some(name) = only
        .as_deref()
        .filter(|name| partial_layers(name).is_some())
    {
        partial_row(name, &mock.base_url(), path, requests, concurrency).await;
        return;
    }
    if let Some(only) = &only {
        let (name, url, unique) = scenarios
            .iter()
            .find(|(name, ..)| name.starts_with(&format!("({only})")))
            .expect("a scenario letter a to d");
        let outcome = closed_loop(url, requests, concurrency, *unique).await;
        println!(
            "| {name} | {:.0} | {} | {} |",
            outcome.rps,
            ms(outcome.latency.value_at_quantile(0.5)),
            ms(outcome.latency.value_at_quantile(0.99))
        );
        return;
    }
    let rounds = std::env::var("LOAD_TEST_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5u64)
        .max(1);
    let urls = [
        scenarios[0].1.as_str(),
        scenarios[1].1.as_str(),
        scenarios[2].1.as_str(),
    ];
    let (outcomes, ratios) = interleaved(urls, requests, concurrency, rounds).await;
    let hits = closed_loop(&scenarios[3].1, requests, concurrency, false).await;
    for ((name, ..), outcome) in scenarios.iter().zip(outcomes.iter().chain([&hits])) {
        let (median, tail) = (
            outcome.latency.value_at_quantile(0.5),
            outcome.latency.value_at_quantile(0.99),
        );
        println!(
            "| {name} | {:.0} | {} | {} |",
            outcome.rps,
            ms(median),
            ms(tail)
        );
        p50.push((median, outcome.rps));
    }
    let bare_added = p50[1].0 as f64 - p50[0].0 as f64;
    let full_added = p50[2].0 as f64 - p50[0].0 as f64;
    println!(
        "\nadded p50 latency on misses (all rounds): bare proxy {:.0} µs, full proxy {:.0} µs: ratio {:.2}x",
        bare_added,
        full_added,
        full_added / bare_added
    );
    let shown: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "ratio per round ({rounds} rounds of {} requests, a, b, c in turn): {}; median {:.2}x (target ≤ 1.5x)",
        requests / rounds,
        shown.join(", "),
        sorted[sorted.len() / 2]
    );
    println!(
        "hits: {:.0} requests/s against the bare proxy's {:.0} ({:.2}x)",
        p50[3].1,
        p50[1].1,
        p50[3].1 / p50[1].1
    );
    let fixed = open_loop(&format!("{}{path}", proxy.url()), rate, seconds).await;
    println!(
        "full proxy, hits at a fixed {rate} requests/s for {seconds} s: p50 {}, p99 {} (target p99 < 1 ms)",
        ms(fixed.value_at_quantile(0.5)),
        ms(fixed.value_at_quantile(0.99))
    );
    if std::env::var_os("LOAD_TEST_BREAKDOWN").is_some() {
        println!("\nmisses through the proxy with one layer at a time:\n");
        println!("| layers | requests/s | p50 | p99 |");
        println!("|---|---|---|---|");
        for name in ["none", "metrics", "cache", "prefix"] {
            partial_row(name, &mock.base_url(), path, requests, concurrency).await;
        }
    }
    let stats = proxy.stack().cache().expect("the cache is on").stats();
    println!("cache: {} hits, {} misses", stats.hits, stats.misses);
    proxy.shutdown().await.expect("a clean shutdown");
}
