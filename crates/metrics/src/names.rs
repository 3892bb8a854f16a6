//! Metric names, labels and units, in one place.
//!
//! | metric (default names) | type | labels | meaning |
//! |---|---|---|---|
//! | `llm_requests_total` | counter | `provider`, `model`, `outcome`, `cache` | calls; `outcome` is `ok` or an [error kind](crate::ErrorKind), `cache` the cache layer's outcome (`hit`, `miss`, `bypass`, `refresh`, `stale`) or `none` |
//! | `llm_request_duration_seconds` | histogram | `provider`, `model` | from the call until the response body ends (the whole stream) |
//! | `llm_time_to_first_chunk_seconds` | histogram | `provider`, `model` | streamed responses: from the call to the first body chunk |
//! | `llm_tokens_total` | counter | `provider`, `model`, `kind` | tokens the provider billed: `input` (all prompt tokens), `output` (all generated tokens), and their parts `cache_read`, `cache_write` (of input) and `reasoning` (of output) |
//! | `llm_tokens_saved_total` | counter | `provider`, `model`, `kind` | tokens of answers served from our response cache, by the same kinds: never counted in `llm_tokens_total` |
//! | `llm_errors_total` | counter | `provider`, `model`, `kind` | failed calls by [kind](crate::ErrorKind) |
//! | `llm_requests_in_flight` | gauge | `provider`, `model` | calls started whose response body has not ended |
//! | `llm_cost_usd_total` | gauge (only grows) | `provider`, `model` | dollars spent, from usage and the [price table](crate::prices) |
//! | `llm_cost_saved_usd_total` | gauge (only grows) | `provider`, `model`, `by` | dollars saved: `response_cache` (calls not made, at what the original call cost) and `prompt_cache` (cached prompt tokens at their discount) |
//! | `llm_cost_unpriced_calls_total` | counter | `provider`, `model` | calls with usage whose model has no price (never guessed) |
//!
//! With [`crate::MetricsConfig::opentelemetry_names`], the duration and
//! tokens follow the OpenTelemetry GenAI semantic conventions instead:
//! `gen_ai.client.operation.duration` (histogram, seconds),
//! `gen_ai.client.operation.time_to_first_chunk` (streams) and
//! `gen_ai.client.token.usage` (histogram of tokens per call, with
//! `gen_ai.token.type` = `input` or `output`, plus this crate's
//! `cache_read`, `cache_write` and `reasoning`), labelled
//! `gen_ai.provider.name` and `gen_ai.request.model`; the Prometheus
//! exporter turns the dots into underscores. The other metrics keep their
//! default names.
//!
//! Label values are bounded: `model` takes at most
//! [`crate::MetricsConfig::max_models`] distinct values (then `other`);
//! credentials, prompts and request ids never become labels.

/// Default metric names.
pub const REQUESTS: &str = "llm_requests_total";
/// Default metric name.
pub const DURATION: &str = "llm_request_duration_seconds";
/// Default metric name.
pub const TIME_TO_FIRST_CHUNK: &str = "llm_time_to_first_chunk_seconds";
/// Default metric name.
pub const TOKENS: &str = "llm_tokens_total";
/// Default metric name.
pub const TOKENS_SAVED: &str = "llm_tokens_saved_total";
/// Default metric name.
pub const ERRORS: &str = "llm_errors_total";
/// Default metric name.
pub const IN_FLIGHT: &str = "llm_requests_in_flight";
/// Dollars spent (a gauge that only grows: `metrics` counters hold integers).
pub const COST: &str = "llm_cost_usd_total";
/// Dollars saved, by `by` (`response_cache`, `prompt_cache`); a growing gauge.
pub const COST_SAVED: &str = "llm_cost_saved_usd_total";
/// Calls with usage whose model has no price.
pub const UNPRICED: &str = "llm_cost_unpriced_calls_total";

/// OpenTelemetry GenAI name for the duration histogram.
pub const OTEL_DURATION: &str = "gen_ai.client.operation.duration";
/// OpenTelemetry GenAI name for the token usage histogram.
pub const OTEL_TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// OpenTelemetry GenAI name for time to first chunk (semantic conventions
/// for GenAI metrics, 1.41: `gen_ai.client.operation.time_to_first_chunk`).
pub const OTEL_TIME_TO_FIRST_CHUNK: &str = "gen_ai.client.operation.time_to_first_chunk";

/// Histogram buckets (seconds) that suit LLM latencies, from 5 ms to 10
/// minutes: give them to the exporter for the duration and first-chunk
/// histograms.
pub const LATENCY_BUCKETS_SECONDS: [f64; 18] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0,
    120.0, 600.0,
];

/// Histogram buckets for tokens per call (the OpenTelemetry token histogram).
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Histogram buckets for counts per call or per batch: the retry layer's
/// `llm_call_attempts` and the batch layer's `llm_batch_inputs`.
pub const COUNT_BUCKETS: [f64; 13] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 2048.0,
];

/// The other layers' histograms of counts, given [`COUNT_BUCKETS`].
pub const COUNT_HISTOGRAMS: [&str; 2] = ["llm_call_attempts", "llm_batch_inputs"];

/// Which names to emit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Names {
    pub otel: bool,
}

impl Names {
    pub fn duration(self) -> &'static str {
        if self.otel {
            OTEL_DURATION
        } else {
            DURATION
        }
    }

    pub fn time_to_first_chunk(self) -> &'static str {
        if self.otel {
            OTEL_TIME_TO_FIRST_CHUNK
        } else {
            TIME_TO_FIRST_CHUNK
        }
    }

    pub fn provider_label(self) -> &'static str {
        if self.otel {
            "gen_ai.provider.name"
        } else {
            "provider"
        }
    }

    pub fn model_label(self) -> &'static str {
        if self.otel {
            "gen_ai.request.model"
        } else {
            "model"
        }
    }

    /// Describes every metric (unit and meaning) to the recorder.
    pub fn describe(self) {
        use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
        describe_counter!(
            REQUESTS,
            Unit::Count,
            "LLM calls by provider, model, outcome and cache outcome."
        );
        describe_histogram!(
            self.duration(),
            Unit::Seconds,
            "LLM call duration, until the response body ends."
        );
        describe_histogram!(
            self.time_to_first_chunk(),
            Unit::Seconds,
            "Time to the first body chunk of streamed LLM responses."
        );
        if self.otel {
            describe_histogram!(
                OTEL_TOKEN_USAGE,
                Unit::Count,
                "Tokens per LLM call, by token type."
            );
        } else {
            describe_counter!(TOKENS, Unit::Count, "Tokens the provider billed, by kind.");
        }
        describe_counter!(
            TOKENS_SAVED,
            Unit::Count,
            "Tokens of answers served from the response cache, by kind."
        );
        describe_counter!(ERRORS, Unit::Count, "Failed LLM calls by error kind.");
        describe_gauge!(
            IN_FLIGHT,
            Unit::Count,
            "LLM calls whose response has not ended."
        );
    }
}
