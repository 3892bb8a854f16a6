//! Why did the prompt cache miss? When a request's provider-cached tokens
//! fall well below what the previous request with the same credential
//! partition, model and route had, the two prompts are compared element by
//! element (system blocks, tools, messages, in the provider's order) and
//! the first that differs is reported: its kind, index, byte offset and
//! estimated token position, never its content. When nothing differs
//! within what the previous request had cached (its cached tokens at 4
//! bytes each, an estimate), the report says `unchanged`: the provider let
//! the entry expire, or evicted it.

mod shape;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

pub(crate) use shape::{shape_of, Shape};

/// Metric name: explained misses, by `element`.
pub const MISSES: &str = "llm_prefix_cache_miss_explained_total";

/// Requests remembered (the oldest forgotten first).
const MAX_KEYS: usize = 4096;
/// Reports kept for `/stats`.
const KEPT: usize = 16;

/// One explained miss.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MissReport {
    /// The model.
    pub model: String,
    /// `system`, `tool`, `message`, `response_format`, or `unchanged`.
    pub element: &'static str,
    /// Its index among elements of its kind.
    pub index: usize,
    /// Bytes of prompt before it.
    pub byte_offset: usize,
    /// Estimated tokens before it (4 bytes a token).
    pub token_position: u64,
    /// Cached tokens of the previous request.
    pub cached_before: u64,
    /// Cached tokens of this one.
    pub cached_now: u64,
}

/// The key requests are compared under: credential partition, model, route.
pub(crate) type MissKey = [u8; 32];

struct Previous {
    shape: Shape,
    cached: u64,
}

/// The previous request of every key, and the last reports.
#[derive(Default)]
pub(crate) struct Misses {
    previous: Mutex<(HashMap<MissKey, Previous>, VecDeque<MissKey>)>,
    reports: Mutex<VecDeque<MissReport>>,
}

impl Misses {
    /// This request's shape and cached tokens against the previous one of
    /// its key; the report, when its cache fell well below (under half).
    pub fn observe(
        &self,
        key: MissKey,
        model: &str,
        shape: Shape,
        cached: u64,
    ) -> Option<MissReport> {
        let before = {
            let mut guard = self.previous.lock().unwrap_or_else(|e| e.into_inner());
            let (map, order) = &mut *guard;
            if !map.contains_key(&key) {
                order.push_back(key);
                if order.len() > MAX_KEYS {
                    if let Some(oldest) = order.pop_front() {
                        map.remove(&oldest);
                    }
                }
            }
            map.insert(
                key,
                Previous {
                    shape: shape.clone(),
                    cached,
                },
            )
        }?;
        if before.cached == 0 || cached * 2 >= before.cached {
            return None;
        }
        // A change after what the previous request had cached (its tokens
        // at 4 bytes each) did not cause this miss: the cached part did
        // not change, the provider let it go.
        let cached_bytes = usize::try_from(before.cached.saturating_mul(4)).unwrap_or(usize::MAX);
        let (element, index, byte_offset) = match shape.first_difference(&before.shape) {
            Some(found) if found.2 < cached_bytes => found,
            _ => ("unchanged", 0, shape.total_bytes()),
        };
        let report = MissReport {
            model: model.to_owned(),
            element,
            index,
            byte_offset,
            token_position: byte_offset.div_ceil(4) as u64,
            cached_before: before.cached,
            cached_now: cached,
        };
        metrics::counter!(MISSES, "element" => element).increment(1);
        tracing::debug!(
            target: "llm_layers::prefix",
            model, element, index, byte_offset, cached_before = before.cached, cached_now = cached,
            "provider prompt cache missed: the prefix changed here"
        );
        let mut reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        if reports.len() == KEPT {
            reports.pop_front();
        }
        reports.push_back(report.clone());
        Some(report)
    }

    /// The last reports, newest last.
    pub fn reports(&self) -> Vec<MissReport> {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}
