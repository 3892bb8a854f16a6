//! Fail-open: whether Redis is worth asking, and one log line per change.
//!
//! While Redis answers, every operation is tried. After a failure it is
//! taken as down: operations fail at once (the request goes on as a miss,
//! with no wait), except one probe per [`RedisConfig::probe_interval`]
//! (`crate::RedisConfig`), whose success takes it as up again. The
//! connection itself is re-opened in the background by redis-rs's
//! connection manager.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Up or down, and when a probe last went out.
#[derive(Debug)]
pub(crate) struct Health {
    up: AtomicBool,
    /// Milliseconds since `started` of the last probe while down.
    last_probe: AtomicU64,
    started: Instant,
    probe_interval: Duration,
}

impl Health {
    pub fn new(probe_interval: Duration) -> Health {
        Health {
            up: AtomicBool::new(true),
            last_probe: AtomicU64::new(0),
            started: Instant::now(),
            probe_interval,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Whether to try an operation now: always while up; while down, only
    /// the first caller after each probe interval.
    pub fn admits(&self) -> bool {
        if self.is_up() {
            return true;
        }
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_probe.load(Ordering::Acquire);
        now.saturating_sub(last) >= self.probe_interval.as_millis() as u64
            && self
                .last_probe
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// An operation got an answer.
    pub fn answered(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!(target: "llm_layers::cache::redis", "redis store reachable again: sharing entries");
        }
    }

    /// An operation failed (`what` says how; never a URL or a value).
    pub fn failed(&self, what: &str) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_probe.store(now, Ordering::Release);
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(target: "llm_layers::cache::redis", "redis store unreachable ({what}): requests go on as misses until it answers");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_admits_one_probe_per_interval_and_an_answer_brings_it_up() {
        let health = Health::new(Duration::from_secs(3600));
        assert!(health.admits());
        health.failed("timeout");
        assert!(!health.is_up());
        assert!(!health.admits(), "no probe before the interval");
        let eager = Health::new(Duration::ZERO);
        eager.failed("refused");
        assert!(eager.admits(), "a probe once the interval passed");
        eager.answered();
        assert!(eager.is_up());
        assert!(eager.admits());
    }
}
