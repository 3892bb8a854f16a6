//! The process's Prometheus recorder: installed once, rendered by `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::PrometheusHandle;

/// The handle of the process-wide recorder, installing it on first use with
/// histogram buckets that suit LLM latencies and token counts. When another
/// recorder was installed first, the handle renders nothing.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = llm_layers::metrics::prometheus::builder().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics will be empty");
            }
            handle
        })
        .clone()
}
