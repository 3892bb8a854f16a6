//! What the batch layer counts: in process and through `metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Metric names.
pub mod names {
    /// Counter: upstream requests that carried more than one caller's inputs.
    pub const BATCHES: &str = "llm_batch_requests_total";
    /// Histogram: inputs per batched upstream request.
    pub const INPUTS: &str = "llm_batch_inputs";
    /// Counter: upstream requests saved (callers served by a batch, less one per batch).
    pub const SAVED: &str = "llm_batch_requests_saved_total";
    /// Counter: batches whose answer failed or did not fit, their members then sent alone.
    pub const FAILED: &str = "llm_batch_failed_total";
}

/// The layer's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchStats {
    /// Upstream requests that carried more than one caller's inputs.
    pub batches: u64,
    /// Inputs sent in them.
    pub inputs: u64,
    /// Upstream requests saved.
    pub requests_saved: u64,
    /// Batches that failed (their members were sent alone).
    pub failed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct BatchCounters {
    batches: AtomicU64,
    inputs: AtomicU64,
    saved: AtomicU64,
    failed: AtomicU64,
}

impl BatchCounters {
    /// A batch went upstream with `inputs` inputs.
    pub fn sent(&self, inputs: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.inputs.fetch_add(inputs as u64, Ordering::Relaxed);
        metrics::counter!(names::BATCHES).increment(1);
        metrics::histogram!(names::INPUTS).record(inputs as f64);
    }

    /// A batch answered its `members`: all but one request saved.
    pub fn answered(&self, members: usize) {
        let saved = members.saturating_sub(1) as u64;
        self.saved.fetch_add(saved, Ordering::Relaxed);
        metrics::counter!(names::SAVED).increment(saved);
    }

    /// A batch failed: its members were sent alone.
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::FAILED).increment(1);
    }

    pub fn snapshot(&self) -> BatchStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BatchStats {
            batches: load(&self.batches),
            inputs: load(&self.inputs),
            requests_saved: load(&self.saved),
            failed: load(&self.failed),
        }
    }
}
