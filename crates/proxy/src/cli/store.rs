//! The cache store's and the batch layer's flags and environment
//! variables (Redis, two tiers, embeddings coalescing).

use std::time::Duration;

use crate::config::ProxyConfig;

/// Redis and memory-tier settings, over `[cache]`, and `[batch]`'s.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The Redis store's server: redis://HOST:PORT/DB, rediss:// for TLS
    /// [default: redis://127.0.0.1:6379/0].
    #[arg(long, env = "LLM_PROXY_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// For rediss://: a PEM root certificate to trust instead of the public roots.
    #[arg(long, env = "LLM_PROXY_REDIS_CA_FILE")]
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// Separates deployments on one Redis database [default: default].
    #[arg(long, env = "LLM_PROXY_REDIS_NAMESPACE")]
    pub redis_namespace: Option<String>,
    /// Longest wait for one Redis operation [default: 50ms].
    #[arg(long, env = "LLM_PROXY_REDIS_TIMEOUT", value_parser = humantime::parse_duration)]
    pub redis_timeout: Option<Duration>,
    /// How long a replica waits for another's answer; 0s turns it off [default: 30s].
    #[arg(long, env = "LLM_PROXY_REDIS_FLIGHT_WAIT", value_parser = humantime::parse_duration)]
    pub redis_flight_wait: Option<Duration>,
    /// Two tiers: memory in front of Redis [default: false].
    #[arg(long, env = "LLM_PROXY_CACHE_MEMORY_TIER")]
    pub cache_memory_tier: Option<bool>,
    /// A price table (TOML) whose rows add to or replace the shipped ones.
    #[arg(long, env = "LLM_PROXY_PRICES_FILE")]
    pub prices_file: Option<std::path::PathBuf>,
    /// Leave streamed chat calls without usage when the client asked for none.
    #[arg(long, env = "LLM_PROXY_NO_STREAM_USAGE")]
    pub no_stream_usage: bool,
    /// Turn embeddings coalescing off.
    #[arg(long, env = "LLM_PROXY_NO_BATCH")]
    pub no_batch: bool,
    /// How long the first embeddings request of a batch waits for others [default: 2ms].
    #[arg(long, env = "LLM_PROXY_BATCH_WINDOW", value_parser = humantime::parse_duration)]
    pub batch_window: Option<Duration>,
    /// Inputs per batched upstream request at most [default: 2048].
    #[arg(long, env = "LLM_PROXY_BATCH_MAX_INPUTS")]
    pub batch_max_inputs: Option<usize>,
    /// Batch API jobs: time between two looks at a running job [default: 30s].
    #[arg(long, env = "LLM_PROXY_BATCH_POLL_INTERVAL", value_parser = humantime::parse_duration)]
    pub batch_poll_interval: Option<Duration>,
    /// Longest an entry read from Redis stays in memory [default: 60s].
    #[arg(long, env = "LLM_PROXY_CACHE_MEMORY_TIER_TTL", value_parser = humantime::parse_duration)]
    pub cache_memory_tier_ttl: Option<Duration>,
}

impl StoreArgs {
    /// Sets what was given over the file's values.
    pub fn apply(self, config: &mut ProxyConfig) {
        let cache = &mut config.cache;
        if let Some(url) = self.redis_url {
            cache.redis_url = url;
        }
        if let Some(path) = self.redis_ca_file {
            cache.redis_ca_file = Some(path);
        }
        if let Some(namespace) = self.redis_namespace {
            cache.redis_namespace = namespace;
        }
        if let Some(timeout) = self.redis_timeout {
            cache.redis_timeout = timeout;
        }
        if let Some(wait) = self.redis_flight_wait {
            cache.redis_flight_wait = wait;
        }
        if let Some(tier) = self.cache_memory_tier {
            cache.memory_tier = tier;
        }
        if let Some(ttl) = self.cache_memory_tier_ttl {
            cache.memory_tier_ttl = ttl;
        }
        if let Some(path) = self.prices_file {
            config.metrics.prices_file = Some(path);
        }
        config.metrics.stream_usage &= !self.no_stream_usage;
        config.batch.enabled &= !self.no_batch;
        if let Some(window) = self.batch_window {
            config.batch.window = window;
        }
        if let Some(count) = self.batch_max_inputs {
            config.batch.max_inputs = count;
        }
        if let Some(interval) = self.batch_poll_interval {
            config.batch.poll_interval = interval;
        }
    }
}
