//! Counters a test reads to see what reached the upstream.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;

/// A snapshot of the counters, as `GET /__mock/stats` returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MockStats {
    /// Requests per path (the `/__mock/` endpoints not counted).
    pub requests: BTreeMap<String, u64>,
    /// All requests.
    pub requests_total: u64,
    /// TCP connections accepted.
    pub connections: u64,
    /// Requests that got an injected fault.
    pub faults_injected: u64,
    /// Live entries in the emulated prompt caches.
    pub prompt_cache_entries: usize,
}

impl MockStats {
    /// Requests to one path.
    pub fn requests_to(&self, path: &str) -> u64 {
        self.requests.get(path).copied().unwrap_or(0)
    }
}

/// A request as the mock received it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The `content-type` header, if any.
    pub content_type: Option<String>,
    /// The body, as received.
    #[serde(serialize_with = "serialize_lossy")]
    pub body: Bytes,
}

fn serialize_lossy<S: serde::Serializer>(bytes: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: Mutex<BTreeMap<String, u64>>,
    requests_total: AtomicU64,
    connections: AtomicU64,
    faults: AtomicU64,
    recent: Mutex<VecDeque<RecordedRequest>>,
}

impl Counters {
    pub fn count_request(&self, path: &str) {
        self.requests_total.fetch_add(1, Ordering::Relaxed);
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry(path.to_owned()).or_default() += 1;
    }

    pub fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record(&self, request: RecordedRequest, keep: usize) {
        if keep == 0 {
            return;
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        while recent.len() >= keep {
            recent.pop_front();
        }
        recent.push_back(request);
    }

    pub fn recent(&self) -> Vec<RecordedRequest> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().cloned().collect()
    }

    pub fn snapshot(&self, prompt_cache_entries: usize) -> MockStats {
        MockStats {
            requests: self
                .requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            requests_total: self.requests_total.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            faults_injected: self.faults.load(Ordering::Relaxed),
            prompt_cache_entries,
        }
    }

    pub fn reset(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.requests_total.store(0, Ordering::Relaxed);
        self.connections.store(0, Ordering::Relaxed);
        self.faults.store(0, Ordering::Relaxed);
    }
}
