//! The process's Prometheus recorder: installed once, rendered by `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::PrometheusHandle;

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The handle of the process-wide recorder, installing it on first use with
/// histogram buckets that suit LLM latencies and token counts. When another
/// recorder was installed first, the handle renders nothing.
///
/// The recorder keeps histogram samples until upkeep folds them into
/// buckets; a thread runs it every 5 seconds, so memory stays bounded
/// whether or not anyone scrapes `/metrics`.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = llm_layers::metrics::prometheus::builder().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics will be empty");
            }
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("prometheus-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
            if let Err(error) = spawned {
                tracing::warn!(%error, "no upkeep thread: histograms grow until /metrics is scraped");
            }
            handle
        })
        .clone()
}
