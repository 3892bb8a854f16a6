//! What tests and benches of every crate repeat: running code under the
//! real `metrics` debugging recorder and reading what it recorded, and
//! (in [`crate::raw`]) upstreams that misbehave on purpose.
//!
//! ```
//! use llm_layers_mock::testing::recorded;
//!
//! let ((), seen) = recorded(|| async {
//!     metrics::counter!("llm_example_total", "kind" => "a").increment(2);
//! });
//! assert_eq!(seen.counter("llm_example_total", &[("kind", "a")]), 2);
//! assert_eq!(seen.counter("llm_example_total", &[("kind", "b")]), 0);
//! ```

use std::future::Future;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;

pub use crate::raw;
pub use browser::Chromium;
pub use logs::CapturedLogs;
pub use redis_server::RedisServer;

mod browser;
mod logs;
mod redis_server;

/// One recorded metric: kind, name, labels, value.
pub type Metric = (MetricKind, String, Vec<(String, String)>, DebugValue);

/// What the recorder saw.
#[derive(Debug)]
pub struct Recorded(pub Vec<Metric>);

impl Recorded {
    /// The values of `name` whose labels include all of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&DebugValue> {
        self.0
            .iter()
            .filter(|(_, n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
            })
            .map(|(_, _, _, value)| value)
            .collect()
    }

    /// The sum of the counters `name` with `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.find(name, labels)
            .into_iter()
            .map(|value| match value {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    /// Every sample of the histograms `name` with `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.find(name, labels)
            .into_iter()
            .flat_map(|value| match value {
                DebugValue::Histogram(samples) => {
                    samples.iter().map(|s| s.into_inner()).collect::<Vec<_>>()
                }
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .collect()
    }

    /// The sum of the gauges `name` with `labels`.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels)
            .into_iter()
            .map(|value| match value {
                DebugValue::Gauge(g) => g.into_inner(),
                other => panic!("{name} is not a gauge: {other:?}"),
            })
            .sum()
    }
}

/// A response's `x-llm-cache` header (empty when absent) and its whole
/// body, or the body's error as text.
pub async fn cache_and_body<B>(
    response: http::Response<B>,
) -> (String, Result<bytes::Bytes, String>)
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    use http_body_util::BodyExt;
    let cache = response
        .headers()
        .get("x-llm-cache")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|error| error.to_string());
    (cache, body)
}

/// Waits until `done` holds, looking every 10 ms for at most 20 s; whether
/// it came to hold. For tests that order events instead of timing them.
pub async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..2000 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    done()
}

/// Runs `test` on a current-thread runtime with a local debugging
/// recorder; its output and what was recorded.
pub fn recorded<T, F: Future<Output = T>>(test: impl FnOnce() -> F) -> (T, Recorded) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let output = metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test runtime");
        runtime.block_on(test())
    });
    let values = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let kind = key.kind();
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (kind, key.name().to_owned(), labels, value)
        })
        .collect();
    (output, Recorded(values))
}
