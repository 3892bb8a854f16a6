//! An open-loop load generator: `RATE` POST requests per second to `URL`
//! for `SECONDS`, each sent on its schedule whether or not earlier ones
//! have been answered, and timed from its scheduled start (so a server
//! falling behind shows as latency, not as a slower sender). Prints p50,
//! p99, p99.9 and the worst latency. Used by `scripts/bench-vs-nginx.sh`
//! (wrk from Debian has no fixed-rate mode) and `scripts/bench-memory.sh`.
//! A `%s` in the body is replaced by the request's number, so that every
//! request is different (misses).
//!
//! ```text
//! cargo run --release -p llm-layers-proxy --example fixed_rate -- URL RATE SECONDS BODY_FILE
//! ```
//!
//! The schedule is kept by a thread of its own sleeping to each slot
//! (`nanosleep`, tens of microseconds late at most), not by tokio's
//! millisecond timer; requests run on a one-thread tokio runtime.
//!
//! A server that cannot keep up makes requests pile up; at most
//! `MAX_OUTSTANDING` are in flight, a request due beyond that is not sent
//! and counted as skipped, and a request that fails (refused, cut, not a
//! 2xx) is counted as failed. Either count above zero means the rate was
//! not sustained: the line says so and the exit status is 1.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Requests in flight beyond which a due request is skipped, not sent
/// (each holds a connection, and so a file descriptor).
const MAX_OUTSTANDING: u64 = 4096;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rate, seconds, body_file] = &args[..] else {
        eprintln!("usage: fixed_rate URL RATE SECONDS BODY_FILE");
        std::process::exit(2);
    };
    let rate: u64 = rate.parse().expect("RATE is a whole number");
    let seconds: u64 = seconds.parse().expect("SECONDS is a whole number");
    let body = std::fs::read_to_string(body_file).expect("BODY_FILE is readable UTF-8");
    let body_for = move |n: u64| match body.contains("%s") {
        true => Bytes::from(body.replacen("%s", &n.to_string(), 1)),
        false => Bytes::from(body.clone()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build_http::<Full<Bytes>>();
    let send = {
        let (client, url) = (client.clone(), url.clone());
        move |body: Bytes| {
            let request = http::Request::post(&url)
                .header("authorization", "Bearer sk-bench")
                .header("content-type", "application/json")
                .body(Full::new(body))
                .expect("a valid request");
            let client = client.clone();
            async move {
                let response = client
                    .request(request)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                if !response.status().is_success() {
                    return Err(format!("status {}", response.status()));
                }
                let body = response.into_body().collect().await;
                body.map(drop).map_err(|e| format!("body: {e:?}"))
            }
        }
    };
    // Warm the connection pool and the cache.
    runtime.block_on(async {
        let warm: Vec<_> = (0..32).map(|_| tokio::spawn(send(body_for(0)))).collect();
        for task in warm {
            task.await
                .expect("a warm-up request")
                .expect("the server answers the warm-up requests");
        }
    });
    let latency = Arc::new(Mutex::new(
        Histogram::<u64>::new(3).expect("a valid histogram"),
    ));
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let outstanding = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let mut skipped = 0;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity((rate * seconds) as usize);
    for i in 0..rate * seconds {
        let scheduled = started + interval * i as u32;
        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if outstanding.load(Ordering::Relaxed) >= MAX_OUTSTANDING {
            skipped += 1;
            continue;
        }
        outstanding.fetch_add(1, Ordering::Relaxed);
        let (latency, request) = (latency.clone(), send(body_for(i + 1)));
        let (outstanding, failed) = (outstanding.clone(), failed.clone());
        tasks.push(runtime.spawn(async move {
            let answered = request.await;
            outstanding.fetch_sub(1, Ordering::Relaxed);
            if let Err(why) = answered {
                *failed.lock().expect("unpoisoned").entry(why).or_default() += 1;
                return;
            }
            let took = scheduled.elapsed().as_micros() as u64;
            latency
                .lock()
                .expect("unpoisoned")
                .record(took)
                .expect("in range");
        }));
    }
    runtime.block_on(async {
        for task in tasks {
            task.await.expect("a request");
        }
    });
    let latency = latency.lock().expect("unpoisoned");
    let ms = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
    println!(
        "fixed rate {rate}/s for {seconds} s: {} requests, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
        latency.len(),
        ms(0.5),
        ms(0.99),
        ms(0.999),
        latency.max() as f64 / 1000.0
    );
    let failed = failed.lock().expect("unpoisoned");
    let failed_count: u64 = failed.values().sum();
    if skipped + failed_count > 0 {
        println!(
            "rate not sustained: {skipped} requests skipped (over {MAX_OUTSTANDING} in flight), {failed_count} failed"
        );
        for (why, count) in failed.iter() {
            println!("  {count} failed: {why}");
        }
        std::process::exit(1);
    }
}
