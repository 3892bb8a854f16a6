//! The process's Prometheus recorder: installed once, rendered by `/metrics`.

use std::sync::OnceLock;

use llm_layers::metrics::names;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The handle of the process-wide recorder, installing it on first use with
/// histogram buckets that suit LLM latencies and token counts. When another
/// recorder was installed first, the handle renders nothing.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// A builder with the crate's buckets.
pub fn builder() -> PrometheusBuilder {
    let latency = [
        names::DURATION,
        names::TIME_TO_FIRST_CHUNK,
        llm_layers::connector::names::HANDSHAKE_SECONDS,
    ];
    let mut builder = PrometheusBuilder::new();
    for name in latency {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.into()), &names::LATENCY_BUCKETS_SECONDS)
            .expect("bucket lists are not empty");
    }
    builder
        .set_buckets_for_metric(
            Matcher::Full(names::OTEL_TOKEN_USAGE.into()),
            &names::TOKEN_BUCKETS,
        )
        .expect("bucket lists are not empty")
}
