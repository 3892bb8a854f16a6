//! What the Redis store counts: in process (for [`RemoteStats`]) and
//! through `metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::RemoteStats;

/// Metric names of the Redis store.
pub mod names {
    /// Histogram: seconds per Redis operation that got an answer, by `op`
    /// (`get`, `set`, `claim`, `renew`, `release`, `remove`, `clear`).
    pub const OPERATION_SECONDS: &str = "llm_cache_redis_operation_seconds";
    /// Counter: operations that failed, by `op` and `why` (`timeout`,
    /// `error`, `down`: not tried while Redis was down).
    pub const ERRORS: &str = "llm_cache_redis_errors_total";
    /// Counter: values that did not decode or belonged to another key.
    pub const CORRUPT: &str = "llm_cache_redis_corrupt_total";
    /// Gauge: 1 while Redis answers, 0 while it is taken as down.
    pub const UP: &str = "llm_cache_redis_up";
    /// Counter: cross-process single flight, by `role` (`led`, `followed`,
    /// `timed_out`).
    pub const FLIGHTS: &str = "llm_cache_redis_flights_total";
}

/// One Redis operation, for the `op` label.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Get,
    Set,
    Claim,
    Renew,
    Release,
    Remove,
    Clear,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Claim => "claim",
            Op::Renew => "renew",
            Op::Release => "release",
            Op::Remove => "remove",
            Op::Clear => "clear",
        }
    }
}

/// How an operation failed, for the `why` label.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Failure {
    Timeout,
    Error,
    Down,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Error => "error",
            Failure::Down => "down",
        }
    }
}

/// A flight's end, for the `role` label.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FlightRole {
    Led,
    Followed,
    TimedOut,
}

#[derive(Debug, Default)]
pub(crate) struct RedisCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    corrupt: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    operations: AtomicU64,
    latency_micros: AtomicU64,
    led: AtomicU64,
    followed: AtomicU64,
    timed_out: AtomicU64,
}

impl RedisCounters {
    pub fn answered(&self, op: Op, took: Duration) {
        self.operations.fetch_add(1, Ordering::Relaxed);
        self.latency_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        metrics::histogram!(names::OPERATION_SECONDS, "op" => op.as_str()).record(took);
    }

    pub fn failed(&self, op: Op, why: Failure) {
        let counter = match why {
            Failure::Down => &self.skipped,
            Failure::Timeout | Failure::Error => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::ERRORS, "op" => op.as_str(), "why" => why.as_str()).increment(1);
    }

    pub fn looked_up(&self, found: bool) {
        let counter = if found { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn corrupt(&self) {
        self.corrupt.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::CORRUPT).increment(1);
    }

    pub fn flight(&self, role: FlightRole) {
        let (counter, label) = match role {
            FlightRole::Led => (&self.led, "led"),
            FlightRole::Followed => (&self.followed, "followed"),
            FlightRole::TimedOut => (&self.timed_out, "timed_out"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::FLIGHTS, "role" => label).increment(1);
    }

    pub fn up(&self, up: bool) {
        metrics::gauge!(names::UP).set(if up { 1.0 } else { 0.0 });
    }

    pub fn snapshot(&self, up: bool) -> RemoteStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RemoteStats {
            hits: load(&self.hits),
            misses: load(&self.misses),
            corrupt: load(&self.corrupt),
            errors: load(&self.errors),
            skipped: load(&self.skipped),
            up,
            operations: load(&self.operations),
            latency_micros_total: load(&self.latency_micros),
            flights_led: load(&self.led),
            flights_followed: load(&self.followed),
            flights_timed_out: load(&self.timed_out),
        }
    }
}
