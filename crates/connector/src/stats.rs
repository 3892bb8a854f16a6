//! Pool statistics: connections opened per host, handshake times, requests
//! per connection, new or reused. Kept in process for [`PoolSnapshot`] and
//! emitted through the `metrics` facade.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// Metric names, described once when the first connector is built.
pub mod names {
    /// Counter: connections opened, by `host`.
    pub const CONNECTIONS_OPENED: &str = "llm_connector_connections_opened_total";
    /// Histogram (seconds): handshake time, by `host` and `phase` (`tcp`, `tls`).
    pub const HANDSHAKE_SECONDS: &str = "llm_connector_handshake_seconds";
    /// Counter: responses, by `host` and `connection` (`new`, `reused`).
    pub const REQUESTS: &str = "llm_connector_requests_total";
}

/// Describes the metrics (name, unit, meaning) to the installed recorder.
pub(crate) fn describe() {
    metrics::describe_counter!(
        names::CONNECTIONS_OPENED,
        metrics::Unit::Count,
        "Connections opened to the upstream, by host."
    );
    metrics::describe_histogram!(
        names::HANDSHAKE_SECONDS,
        metrics::Unit::Seconds,
        "Connection set-up time, by host and phase (tcp, tls)."
    );
    metrics::describe_counter!(
        names::REQUESTS,
        metrics::Unit::Count,
        "Responses received, by host and connection (new, reused)."
    );
}

/// How many handshake samples are kept for the percentiles.
const SAMPLES: usize = 1024;

/// Which connection a response came over; in the response's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionUse {
    /// The connection's number within this connector (from 1).
    pub connection_id: u64,
    /// False for the first response on the connection, true afterwards.
    pub reused: bool,
    /// How many responses the connection had given, this one included.
    pub requests_on_connection: u64,
    /// Whether the connection speaks HTTP/2.
    pub http2: bool,
}

/// Attached to each connection (hyper-util's `Connected::extra`) so that
/// every response on it can be traced back to it.
///
/// Everything `served` touches is set up here, once per connection: the
/// host's counters and the metric handles, so a response costs a few
/// atomic additions (no lock, no label allocation, no registry lookup).
#[derive(Clone)]
pub(crate) struct ConnectionMeta {
    pub id: u64,
    pub served: Arc<AtomicU64>,
    pub http2: bool,
    host: Arc<HostCounters>,
    new_responses: metrics::Counter,
    reused_responses: metrics::Counter,
}

impl std::fmt::Debug for ConnectionMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionMeta")
            .field("id", &self.id)
            .field("served", &self.served)
            .field("http2", &self.http2)
            .finish_non_exhaustive()
    }
}

/// One host's running counts.
#[derive(Debug, Default)]
struct HostCounters {
    opened: AtomicU64,
    requests: AtomicU64,
}

/// Counters shared by a connector and its clones.
#[derive(Debug, Default)]
pub(crate) struct PoolStats {
    next_id: AtomicU64,
    opened: AtomicU64,
    requests: AtomicU64,
    reused: AtomicU64,
    by_host: Mutex<BTreeMap<String, Arc<HostCounters>>>,
    tcp: Mutex<VecDeque<Duration>>,
    tls: Mutex<VecDeque<Duration>>,
}

fn push_sample(samples: &Mutex<VecDeque<Duration>>, sample: Duration) {
    let mut samples = samples.lock().unwrap_or_else(|e| e.into_inner());
    if samples.len() == SAMPLES {
        samples.pop_front();
    }
    samples.push_back(sample);
}

fn p50_ms(samples: &Mutex<VecDeque<Duration>>) -> Option<f64> {
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner());
    let mut sorted: Vec<Duration> = samples.iter().copied().collect();
    sorted.sort_unstable();
    sorted
        .get(sorted.len() / 2)
        .map(|d| d.as_secs_f64() * 1000.0)
}

impl PoolStats {
    /// Records a new connection and returns its identity.
    pub fn opened(
        &self,
        host: &str,
        tcp: Duration,
        tls: Option<Duration>,
        http2: bool,
    ) -> ConnectionMeta {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.opened.fetch_add(1, Ordering::Relaxed);
        let host_counters = self
            .by_host
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(host.to_owned())
            .or_default()
            .clone();
        host_counters.opened.fetch_add(1, Ordering::Relaxed);
        push_sample(&self.tcp, tcp);
        let label = host.to_owned();
        metrics::counter!(names::CONNECTIONS_OPENED, "host" => label.clone()).increment(1);
        metrics::histogram!(names::HANDSHAKE_SECONDS, "host" => label.clone(), "phase" => "tcp")
            .record(tcp.as_secs_f64());
        if let Some(tls) = tls {
            push_sample(&self.tls, tls);
            metrics::histogram!(names::HANDSHAKE_SECONDS, "host" => label, "phase" => "tls")
                .record(tls.as_secs_f64());
        }
        let responses = |connection: &'static str| metrics::counter!(names::REQUESTS, "host" => host.to_owned(), "connection" => connection);
        ConnectionMeta {
            id,
            served: Arc::new(AtomicU64::new(0)),
            http2,
            host: host_counters,
            new_responses: responses("new"),
            reused_responses: responses("reused"),
        }
    }

    /// Records a response that came over `meta`'s connection.
    pub fn served(&self, meta: &ConnectionMeta) -> ConnectionUse {
        let previous = meta.served.fetch_add(1, Ordering::Relaxed);
        let reused = previous > 0;
        self.requests.fetch_add(1, Ordering::Relaxed);
        if reused {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        meta.host.requests.fetch_add(1, Ordering::Relaxed);
        match reused {
            true => meta.reused_responses.increment(1),
            false => meta.new_responses.increment(1),
        }
        ConnectionUse {
            connection_id: meta.id,
            reused,
            requests_on_connection: previous + 1,
            http2: meta.http2,
        }
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        let opened = self.opened.load(Ordering::Relaxed);
        let requests = self.requests.load(Ordering::Relaxed);
        let reused = self.reused.load(Ordering::Relaxed);
        PoolSnapshot {
            opened,
            requests,
            reused,
            reuse_ratio: if requests == 0 {
                0.0
            } else {
                reused as f64 / requests as f64
            },
            requests_per_connection: if opened == 0 {
                0.0
            } else {
                requests as f64 / opened as f64
            },
            tcp_handshake_p50_ms: p50_ms(&self.tcp),
            tls_handshake_p50_ms: p50_ms(&self.tls),
            by_host: self
                .by_host
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(host, counters)| {
                    let snapshot = HostSnapshot {
                        opened: counters.opened.load(Ordering::Relaxed),
                        requests: counters.requests.load(Ordering::Relaxed),
                    };
                    (host.clone(), snapshot)
                })
                .collect(),
        }
    }
}

/// Pool statistics at one moment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolSnapshot {
    /// Connections opened.
    pub opened: u64,
    /// Responses received.
    pub requests: u64,
    /// Responses that came over a connection used before.
    pub reused: u64,
    /// `reused / requests`.
    pub reuse_ratio: f64,
    /// `requests / opened`.
    pub requests_per_connection: f64,
    /// Median TCP connect time of the last 1024 connections.
    pub tcp_handshake_p50_ms: Option<f64>,
    /// Median TLS handshake time of the last 1024 TLS connections.
    pub tls_handshake_p50_ms: Option<f64>,
    /// Per host.
    pub by_host: BTreeMap<String, HostSnapshot>,
}

/// One host's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostSnapshot {
    /// Connections opened to it.
    pub opened: u64,
    /// Responses received from it.
    pub requests: u64,
}
