//! A Prometheus exporter set up for these metrics (feature `prometheus`):
//! histogram buckets from 5 ms to 10 minutes for every `*_seconds` metric
//! (request duration, time to first chunk, the connector's handshakes) and
//! the OpenTelemetry duration histograms, token-count buckets for the
//! OpenTelemetry token histogram, and count buckets for the retry layer's
//! attempts per call and the batch layer's inputs per batch. A histogram
//! without buckets would be a summary, whose every sample costs a quantile
//! sketch update (more than the rest of a call's metrics).
//!
//! ```
//! let recorder = llm_layers_metrics::prometheus::builder().build_recorder();
//! let handle = recorder.handle();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::histogram!("llm_request_duration_seconds").record(0.2);
//! });
//! assert!(handle.render().contains("llm_request_duration_seconds_bucket{le=\"0.25\"} 1"));
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::histogram!("llm_call_attempts").record(2.0);
//! });
//! assert!(handle.render().contains("llm_call_attempts_bucket{le=\"2\"} 1"));
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
    let builder = builder
        .set_buckets_for_metric(
            Matcher::Full(names::OTEL_TOKEN_USAGE.into()),
            &names::TOKEN_BUCKETS,
        )
        .expect("bucket lists are not empty");
    names::COUNT_HISTOGRAMS
        .into_iter()
        .fold(builder, |builder, name| {
            builder
                .set_buckets_for_metric(Matcher::Full(name.into()), &names::COUNT_BUCKETS)
                .expect("bucket lists are not empty")
        })
}
