//! A Prometheus exporter set up for these metrics (feature `prometheus`):
//! histogram buckets from 5 ms to 10 minutes for every `*_seconds` metric
//! (request duration, time to first chunk, the connector's handshakes) and
//! the OpenTelemetry duration histograms, and token-count buckets for the
//! OpenTelemetry token histogram.
//!
//! ```
//! let recorder = llm_layers_metrics::prometheus::builder().build_recorder();
//! let handle = recorder.handle();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::histogram!("llm_request_duration_seconds").record(0.2);
//! });
//! assert!(handle.render().contains("llm_request_duration_seconds_bucket{le=\"0.25\"} 1"));
//! ```

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::names;

/// A builder with the crate's buckets; install it, or build a recorder.
pub fn builder() -> PrometheusBuilder {
    let latency = [
        Matcher::Suffix("_seconds".into()),
        Matcher::Full(names::OTEL_DURATION.into()),
        Matcher::Full(names::OTEL_TIME_TO_FIRST_CHUNK.into()),
    ];
    let builder = latency
        .into_iter()
        .fold(PrometheusBuilder::new(), |builder, matcher| {
            builder
                .set_buckets_for_metric(matcher, &names::LATENCY_BUCKETS_SECONDS)
                .expect("bucket lists are not empty")
        });
    builder
        .set_buckets_for_metric(
            Matcher::Full(names::OTEL_TOKEN_USAGE.into()),
            &names::TOKEN_BUCKETS,
        )
        .expect("bucket lists are not empty")
}
