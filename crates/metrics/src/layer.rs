//! The layer and its statistics handle.

use std::sync::Arc;

use tower::Layer;

use crate::config::MetricsConfig;
use crate::registry::Registry;
use crate::service::Metrics;
use crate::stats::StatsSnapshot;

/// Records calls, latency, time to first chunk, tokens, errors and cache
/// outcomes per model. See the crate documentation for the metric names.
#[derive(Clone)]
pub struct MetricsLayer {
    registry: Arc<Registry>,
}

impl MetricsLayer {
    /// A layer with the given settings. Describes the metrics to the
    /// recorder installed now.
    pub fn new(config: MetricsConfig) -> MetricsLayer {
        MetricsLayer {
            registry: Arc::new(Registry::new(config)),
        }
    }

    /// A handle on the in-process statistics of every service this layer
    /// builds.
    pub fn stats(&self) -> MetricsStats {
        MetricsStats {
            registry: self.registry.clone(),
        }
    }
}

impl Default for MetricsLayer {
    fn default() -> Self {
        MetricsLayer::new(MetricsConfig::default())
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics {
            inner,
            registry: self.registry.clone(),
        }
    }
}

/// Reads the in-process statistics. Cheap to clone.
#[derive(Clone)]
pub struct MetricsStats {
    registry: Arc<Registry>,
}

impl MetricsStats {
    /// The statistics now.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.registry.snapshot()
    }
}
