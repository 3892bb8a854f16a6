//! What the layer rewrites and how it measures; every rewrite switchable.

use std::fmt;
use std::sync::Arc;

use regex::Regex;

use crate::estimate::{BytesPerToken, TokenEstimator};
use crate::minimum::MinimumTable;
use crate::volatile::{Markers, VolatileFinder, DATE_TIME_PATTERN, UUID_PATTERN};

/// How long Anthropic keeps a prefix written at a placed breakpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BreakpointTtl {
    /// Five minutes from last use (Anthropic's default; written without a `ttl`).
    #[default]
    FiveMinutes,
    /// One hour (`"ttl": "1h"`; writes cost more, reads last longer).
    OneHour,
}

/// Configuration of [`crate::PromptPrefixLayer`]. Defaults: stable
/// serialisation, `<dynamic>…</dynamic>` markers, the date-time and UUID
/// detectors, Anthropic breakpoints (5 minutes) and `prompt_cache_key` on;
/// tool reordering off.
#[derive(Clone)]
#[non_exhaustive]
pub struct PrefixConfig {
    /// Sort the keys of tool definitions, parameter schemas and response
    /// format schemas recursively.
    pub stable_serialisation: bool,
    /// Sort tools by name as well (changes the order the model reads them in).
    pub reorder_tools: bool,
    /// Markers around volatile spans of system prompts; `None` turns them off.
    pub markers: Option<Markers>,
    /// Move lines holding an ISO 8601 date or time.
    pub detect_date_times: bool,
    /// Move lines holding a UUID.
    pub detect_uuids: bool,
    /// Move lines holding a match of any of these.
    pub detectors: Vec<Regex>,
    /// Place Anthropic `cache_control` breakpoints.
    pub anthropic_breakpoints: bool,
    /// The TTL of placed breakpoints.
    pub breakpoint_ttl: BreakpointTtl,
    /// Set OpenAI's `prompt_cache_key` from the static prefix when the caller did not.
    pub openai_prompt_cache_key: bool,
    /// Minimum cacheable prefix per model.
    pub minimums: MinimumTable,
    /// Rewrite (and report per prefix) requests whose whole body is too
    /// short for any prefix of it to reach the provider's minimum (by
    /// [`TokenEstimator::most_tokens`]). Default false: no provider caches
    /// them, so they are forwarded as they came, without being parsed, and
    /// counted as `llm_prefix_untouched_total{reason="too_short"}`.
    pub rewrite_short_requests: bool,
    /// Counts prefix tokens.
    pub estimator: Arc<dyn TokenEstimator>,
    /// Larger request bodies are forwarded untouched. Applies to the layer
    /// used alone: in an `LlmStack`, the stack's one limit applies instead.
    pub max_request_bytes: usize,
    /// Larger JSON response bodies are not read for usage.
    pub max_response_bytes: usize,
    /// Prefixes tracked one by one in statistics and metric labels; the
    /// rest are counted together under `other`.
    pub max_tracked_prefixes: usize,
    /// The prompt-cache alert's thresholds; `None` turns it off.
    pub cache_ratio_alert: Option<crate::ratio_alert::CacheRatioAlert>,
}

impl Default for PrefixConfig {
    fn default() -> Self {
        PrefixConfig {
            stable_serialisation: true,
            reorder_tools: false,
            markers: Some(Markers::default()),
            detect_date_times: true,
            detect_uuids: true,
            detectors: Vec::new(),
            anthropic_breakpoints: true,
            breakpoint_ttl: BreakpointTtl::FiveMinutes,
            openai_prompt_cache_key: true,
            minimums: MinimumTable::default(),
            rewrite_short_requests: false,
            estimator: Arc::new(BytesPerToken),
            max_request_bytes: 8 << 20,
            max_response_bytes: 8 << 20,
            max_tracked_prefixes: 256,
            cache_ratio_alert: Some(crate::ratio_alert::CacheRatioAlert::default()),
        }
    }
}

llm_layers_core::config_setters!(PrefixConfig {
    stable_serialisation: bool,
    reorder_tools: bool,
    markers: Option<Markers>,
    detect_date_times: bool,
    detect_uuids: bool,
    detectors: Vec<Regex>,
    anthropic_breakpoints: bool,
    breakpoint_ttl: BreakpointTtl,
    openai_prompt_cache_key: bool,
    minimums: MinimumTable,
    rewrite_short_requests: bool,
    estimator: Arc<dyn TokenEstimator>,
    max_request_bytes: usize,
    max_response_bytes: usize,
    max_tracked_prefixes: usize,
    cache_ratio_alert: Option<crate::ratio_alert::CacheRatioAlert>,
});

impl fmt::Debug for PrefixConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefixConfig")
            .field("stable_serialisation", &self.stable_serialisation)
            .field("reorder_tools", &self.reorder_tools)
            .field("markers", &self.markers)
            .field("detect_date_times", &self.detect_date_times)
            .field("detect_uuids", &self.detect_uuids)
            .field("detectors", &self.detectors)
            .field("anthropic_breakpoints", &self.anthropic_breakpoints)
            .field("breakpoint_ttl", &self.breakpoint_ttl)
            .field("openai_prompt_cache_key", &self.openai_prompt_cache_key)
            .field("minimums", &self.minimums)
            .field("rewrite_short_requests", &self.rewrite_short_requests)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_tracked_prefixes", &self.max_tracked_prefixes)
            .finish_non_exhaustive()
    }
}

impl PrefixConfig {
    /// The volatile-content finder this configuration describes.
    pub(crate) fn finder(&self) -> VolatileFinder {
        let mut detectors = Vec::new();
        if self.detect_date_times {
            detectors.push(Regex::new(DATE_TIME_PATTERN).expect("a valid built-in pattern"));
        }
        if self.detect_uuids {
            detectors.push(Regex::new(UUID_PATTERN).expect("a valid built-in pattern"));
        }
        detectors.extend(self.detectors.iter().cloned());
        VolatileFinder::new(self.markers.clone(), detectors)
    }
}
