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
//! in turn in `LOAD_TEST_ROUNDS` rounds (default 5). The miss ratio (what
//! the full proxy adds over what the bare proxy adds) is printed three
//! ways: the median of the rounds' ratios, the ratio of each scenario's
//! median p50, and the same for the process's CPU time per request, which
//! the other tenants of a shared machine move least.
//!
//! `LOAD_TEST_ONLY=a` (to `d`) runs one scenario, and `none`, `metrics`,
//! `cache`, `prefix`, `retry`, `breaker` or a `+` combination runs the
//! proxy with only those layers on misses (for profilers); `LOAD_TEST_MAX_ENTRIES` bounds the
//! full proxy's cache (to see misses with evictions in steady state);
//! `LOAD_TEST_BREAKDOWN=1` adds a row per layer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig};

#[path = "support/bare_proxy.rs"]
mod bare;
use bare::bare_proxy;

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
    /// CPU time of the whole process (client, mock and proxies) while the
    /// requests ran.
    cpu: Duration,
}

/// The CPU time this process has used, all threads together.
fn process_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call to fill.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "the process CPU clock is readable");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The median of some figures (the upper one of an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
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
    let cpu_before = process_cpu_time();
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
        cpu: process_cpu_time() - cpu_before,
    }
}

/// Scenarios (a), (b) and (c) measured in turn, `rounds` times, so that
/// the machine's drift (these machines are shared) reaches all three
/// alike. Each round gives each scenario a p50 and a CPU time per request;
/// the outcomes add the rounds up.
async fn interleaved(
    urls: [&str; 3],
    requests: u64,
    concurrency: usize,
    rounds: u64,
) -> ([Outcome; 3], Rounds) {
    let per_round = (requests / rounds).max(1);
    let mut totals: [Option<Outcome>; 3] = [None, None, None];
    let mut seconds = [0.0; 3];
    let mut figures = Rounds::default();
    for round in 0..rounds {
        for (i, url) in urls.iter().enumerate() {
            let outcome =
                closed_loop_from(url, round * per_round, per_round, concurrency, true).await;
            figures.p50[i].push(outcome.latency.value_at_quantile(0.5) as f64);
            figures.cpu[i].push(outcome.cpu.as_secs_f64() * 1e6 / per_round as f64);
            seconds[i] += per_round as f64 / outcome.rps;
            match &mut totals[i] {
                None => totals[i] = Some(outcome),
                Some(total) => {
                    total.latency.add(&outcome.latency).expect("same bounds");
                    total.cpu += outcome.cpu;
                }
            }
        }
    }
    let totals = std::array::from_fn(|i| {
        let mut total = totals[i].take().expect("at least one round");
        total.rps = (rounds * per_round) as f64 / seconds[i];
        total
    });
    (totals, figures)
}

/// Per round, for (a), (b) and (c): the p50 in µs and the process's CPU
/// µs per request.
#[derive(Default)]
struct Rounds {
    p50: [Vec<f64>; 3],
    cpu: [Vec<f64>; 3],
}

impl Rounds {
    /// What the full proxy adds over what the bare proxy adds, per round.
    fn ratios(figures: &[Vec<f64>; 3]) -> Vec<f64> {
        (0..figures[0].len())
            .map(|round| {
                let [a, b, c] = [0, 1, 2].map(|i| figures[i][round]);
                (c - a) / (b - a)
            })
            .collect()
    }

    /// The same ratio from each scenario's median over the rounds: less
    /// moved by one disturbed round than a ratio of one round's figures.
    fn ratio_of_medians(figures: &[Vec<f64>; 3]) -> (f64, f64, f64) {
        let [a, b, c] = [0, 1, 2].map(|i| median(&figures[i]));
        (b - a, c - a, (c - a) / (b - a))
    }
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

/// Which layers (cache, prefix, metrics) a partial proxy named so runs:
/// The layers a partial proxy runs.
#[derive(Clone, Copy, Default)]
struct Layers {
    cache: bool,
    prefix: bool,
    metrics: bool,
    retry: bool,
    breaker: bool,
}

/// `none`, or layer names joined by `+` (`cache+prefix`, `retry+breaker`).
fn partial_layers(name: &str) -> Option<Layers> {
    let mut layers = Layers::default();
    if name == "none" {
        return Some(layers);
    }
    for layer in name.split('+') {
        let on = match layer {
            "cache" => &mut layers.cache,
            "prefix" => &mut layers.prefix,
            "metrics" => &mut layers.metrics,
            "retry" => &mut layers.retry,
            "breaker" => &mut layers.breaker,
            _ => return None,
        };
        *on = true;
    }
    Some(layers)
}

/// The proxy with only some of its layers.
async fn partial_proxy(upstream: &str, layers: Layers) -> llm_layers_proxy::RunningProxy {
    let mut config = ProxyConfig::default()
        .listen("127.0.0.1:0".parse().expect("an address"))
        .upstream(upstream.to_owned());
    config.cache.enabled = layers.cache;
    config.prefix.enabled = layers.prefix;
    config.metrics.enabled = layers.metrics;
    config.retry.enabled = layers.retry;
    config.breaker.enabled = layers.breaker;
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
    let bare = bare_proxy("127.0.0.1:0", mock.base_url().to_owned(), concurrency).await;
    let mut full_config = ProxyConfig::default()
        .listen("127.0.0.1:0".parse().expect("an address"))
        .upstream(mock.base_url().to_owned());
    if let Some(entries) = std::env::var("LOAD_TEST_MAX_ENTRIES")
        .ok()
        .and_then(|value| value.parse().ok())
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
    // `cache`, `prefix`, `retry`, `breaker` or a `+` combination
    // (`cache+prefix`) runs the proxy on misses with only those layers.
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
    let (outcomes, rounds_figures) = interleaved(urls, requests, concurrency, rounds).await;
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
    let shown = |ratios: Vec<f64>| -> (String, f64) {
        let text: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
        (text.join(", "), median(&ratios))
    };
    let (per_round, median_ratio) = shown(Rounds::ratios(&rounds_figures.p50));
    println!(
        "ratio per round ({rounds} rounds of {} requests, a, b, c in turn): {per_round}; median {median_ratio:.2}x (target ≤ 1.5x)",
        requests / rounds,
    );
    let (bare, full, ratio) = Rounds::ratio_of_medians(&rounds_figures.p50);
    println!(
        "each scenario's median p50 over the rounds: bare proxy adds {bare:.0} µs, full proxy {full:.0} µs: ratio {ratio:.2}x"
    );
    let cpu_medians = rounds_figures.cpu.each_ref().map(|cpu| median(cpu));
    let (bare, full, ratio) = Rounds::ratio_of_medians(&rounds_figures.cpu);
    let (per_round, _) = shown(Rounds::ratios(&rounds_figures.cpu));
    println!(
        "CPU per request, whole process (median of rounds): (a) {:.1} µs, (b) {:.1} µs, (c) {:.1} µs; \
         the bare proxy's share {bare:.1} µs, the full proxy's {full:.1} µs: ratio {ratio:.2}x (per round: {per_round})",
        cpu_medians[0], cpu_medians[1], cpu_medians[2],
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
        for name in ["none", "metrics", "cache", "prefix", "retry", "breaker"] {
            partial_row(name, &mock.base_url(), path, requests, concurrency).await;
        }
    }
    let stats = proxy.stack().cache().expect("the cache is on").stats();
    println!("cache: {} hits, {} misses", stats.hits, stats.misses);
    proxy.shutdown().await.expect("a clean shutdown");
}
