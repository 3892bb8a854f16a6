//! The stack the configuration describes.

use std::time::Duration;

use llm_layers::batch::{BatchConfig, EmbeddingsBatchLayer};
use llm_layers::cache::{
    CacheConfig, CacheLayer, DiskStore, MemoryBounds, MemoryStore, RedisConfig, RedisStore,
    TieredStore,
};
use llm_layers::metrics::{AlertConfig, MetricsConfig, MetricsLayer, PriceTable, StreamUsageLayer};
use llm_layers::prefix::{CacheRatioAlert, Markers, PrefixConfig, PromptPrefixLayer};
use llm_layers::resilience::{CircuitBreakerLayer, RateLimitLayer, RetryLayer};
use llm_layers::LlmStack;

use crate::config::{ProxyConfig, StoreKind};

/// A file the layers need (the disk store, a price table, a CA) could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the cache store: {0}")]
pub struct StoreOpenError(String);

/// Builds the layers, each on or off as configured.
pub fn stack(config: &ProxyConfig) -> Result<LlmStack, StoreOpenError> {
    let prices = match &config.metrics.prices_file {
        None => PriceTable::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| StoreOpenError(format!("reading {}: {error}", path.display())))?;
            let own = PriceTable::from_toml(&text)
                .map_err(|error| StoreOpenError(format!("{}: {error}", path.display())))?;
            PriceTable::default().overridden_by(&own)
        }
    };
    let metrics = config.metrics.enabled.then(|| {
        MetricsLayer::new(
            MetricsConfig::default()
                .opentelemetry_names(config.metrics.opentelemetry_names)
                .max_request_bytes(config.max_request_bytes)
                .prices(prices)
                .alerts(
                    AlertConfig::default()
                        .window(config.alerts.window)
                        .max_error_rate(config.alerts.max_error_rate)
                        .min_cache_hit_rate(config.alerts.min_cache_hit_rate)
                        .min_calls_for_cache(config.alerts.min_calls_for_cache)
                        .default_latency_p95(config.alerts.latency_p95)
                        .latency_p95(config.alerts.latency_p95_by_model.clone()),
                ),
        )
    });
    let cache = match config.cache.enabled {
        false => None,
        true => Some(cache_layer(config)?),
    };
    let prefix = config.prefix.enabled.then(|| {
        let section = &config.prefix;
        PromptPrefixLayer::new(
            PrefixConfig::default()
                .stable_serialisation(section.stable_serialisation)
                .markers(section.markers.then(Markers::default))
                .detect_date_times(section.detectors)
                .detect_uuids(section.detectors)
                .anthropic_breakpoints(section.anthropic_breakpoints)
                .openai_prompt_cache_key(section.prompt_cache_key)
                .max_request_bytes(config.max_request_bytes)
                .cache_ratio_alert(Some(
                    CacheRatioAlert::default()
                        .window(config.alerts.window)
                        .min_ratio(config.alerts.min_prompt_cache_ratio),
                )),
        )
    });
    let limit = config.max_request_bytes;
    let retry = (config.retry.enabled && config.retry.max_attempts > 1)
        .then(|| RetryLayer::new(config.retry.policy(limit)));
    let breaker = config
        .breaker
        .enabled
        .then(|| CircuitBreakerLayer::new(config.breaker.policy(limit)));
    let rate_limit = config
        .rate_limit
        .enabled
        .then(|| RateLimitLayer::new(config.rate_limit.policy(limit)));
    let batch = config.batch.enabled.then(|| {
        EmbeddingsBatchLayer::new(
            BatchConfig::default()
                .window(config.batch.window)
                .max_inputs(config.batch.max_inputs)
                .max_request_bytes(limit),
        )
    });
    let stream_usage = (config.metrics.enabled && config.metrics.stream_usage)
        .then(|| StreamUsageLayer::default().max_request_bytes(limit));
    Ok(LlmStack::bare()
        .with_max_request_bytes(limit)
        .with_timeouts(config.upstream_timeouts())
        .with_stream_usage(stream_usage)
        .with_metrics(metrics)
        .with_cache(cache)
        .with_prefix(prefix)
        .with_batch(batch)
        .with_retry(retry)
        .with_breaker(breaker)
        .with_rate_limit(rate_limit))
}

fn cache_layer(config: &ProxyConfig) -> Result<CacheLayer, StoreOpenError> {
    let section = &config.cache;
    let cache_config = CacheConfig::default()
        .default_ttl(Duration::from_secs(section.ttl_seconds))
        .share_across_credentials(section.share_across_credentials)
        .max_request_bytes(config.max_request_bytes);
    let bounds = MemoryBounds::default()
        .max_bytes(section.max_bytes)
        .max_entries(section.max_entries);
    Ok(match section.store {
        StoreKind::Memory => CacheLayer::with_store(cache_config, MemoryStore::new(bounds)),
        StoreKind::Disk => {
            let store = DiskStore::open(&section.path, bounds)
                .map_err(|error| StoreOpenError(error.to_string()))?;
            CacheLayer::with_store(cache_config, store)
        }
        StoreKind::Redis => {
            let root = match &section.redis_ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|error| {
                    StoreOpenError(format!("reading {}: {error}", path.display()))
                })?),
                None => None,
            };
            let redis = RedisConfig::default()
                .url(section.redis_url.clone())
                .root_certificate_pem(root)
                .namespace(section.redis_namespace.clone())
                .operation_timeout(section.redis_timeout)
                .flight_wait(section.redis_flight_wait);
            let store =
                RedisStore::connect(redis).map_err(|error| StoreOpenError(error.to_string()))?;
            match section.memory_tier {
                true => CacheLayer::with_store(
                    cache_config,
                    TieredStore::new(MemoryStore::new(bounds), store)
                        .front_ttl(section.memory_tier_ttl),
                ),
                false => CacheLayer::with_store(cache_config, store),
            }
        }
    })
}
