//! How the metrics layer behaves.

/// Settings of a [`crate::MetricsLayer`]; `Default` is documented per field.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Distinct `model` label values before the rest become `other`.
    /// Default 100.
    pub max_models: usize,
    /// Emit OpenTelemetry GenAI names for duration and tokens. Default false.
    pub opentelemetry_names: bool,
    /// Largest request body buffered to learn the model when no earlier
    /// layer did; larger bodies pass through and count as model `unknown`.
    /// Default 32 MiB. Applies to the layer used alone: in an `LlmStack`,
    /// the stack's one limit applies instead.
    pub max_request_bytes: usize,
    /// Largest non-streamed response body kept to read its usage; usage of
    /// larger bodies is not counted. Default 8 MiB.
    pub max_response_bytes: usize,
    /// Prices by model, for the cost metrics. Default: the table shipped
    /// in `data/prices.toml` (with its date and sources).
    pub prices: crate::prices::PriceTable,
    /// Health alert thresholds.
    pub alerts: crate::alerts::AlertConfig,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            max_models: 100,
            opentelemetry_names: false,
            max_request_bytes: 32 << 20,
            max_response_bytes: 8 << 20,
            prices: crate::prices::PriceTable::default(),
            alerts: crate::alerts::AlertConfig::default(),
        }
    }
}

llm_layers_core::config_setters!(MetricsConfig {
    max_models: usize,
    opentelemetry_names: bool,
    max_request_bytes: usize,
    max_response_bytes: usize,
    prices: crate::prices::PriceTable,
    alerts: crate::alerts::AlertConfig,
});
