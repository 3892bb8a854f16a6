//! The proxy's configuration: a TOML file, then environment variables and
//! flags over it (see [`crate::cli`]), then these defaults.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! upstream = "https://api.openai.com"              # OpenAI-compatible requests
//! anthropic_upstream = "https://api.anthropic.com" # /anthropic/... requests
//! anthropic_prefix = "/anthropic"
//! gemini_upstream = "https://generativelanguage.googleapis.com" # /gemini/... requests
//! gemini_prefix = "/gemini"
//! admin_token = "change-me"                        # admin routes answer 401 without it
//! # tls_cert = "proxy.crt"                         # HTTPS (HTTP/2 through ALPN) with this
//! # tls_key = "proxy.key"                          # PEM chain and key
//! max_request_bytes = 33554432
//! openai_key_env = "OPENAI_API_KEY"                # server-held keys, used only for
//! anthropic_key_env = "ANTHROPIC_API_KEY"          # clients that send none
//! gemini_key_env = "GEMINI_API_KEY"
//! first_byte_timeout = "60s"       # upstream: to the response head (504 beyond)
//! stream_idle_timeout = "60s"      # upstream: between body chunks
//! request_timeout = "10m"          # upstream: the whole call
//! client_header_timeout = "10s"    # clients: to send a request's head
//! client_body_timeout = "30s"      # clients: to send a request's body (408 beyond)
//! keep_alive_timeout = "60s"       # clients: an idle connection is closed after this
//! max_connections = 1024           # clients: open connections at most
//! # worker_threads = 1             # runtime threads (default: one per core)
//! shutdown_grace = "30s"           # SIGTERM: in-flight work gets this long
//! max_buffered_request_bytes = 268435456  # all request bodies being read (503 beyond)
//!
//! [cache]
//! enabled = true
//! store = "memory"            # or "disk" (with path), or "redis" (with redis_url)
//! path = "llm-cache.redb"
//! max_bytes = 268435456
//! max_entries = 100000
//! ttl_seconds = 3600
//! share_across_credentials = false
//! redis_url = "redis://127.0.0.1:6379/0"   # rediss:// for TLS
//! # redis_ca_file = "ca.pem"   # rediss://: trust this root instead of the public ones
//! redis_namespace = "default"  # clearing the cache clears this namespace only
//! redis_timeout = "50ms"       # per Redis operation; beyond, the request goes on as a miss
//! redis_flight_wait = "30s"    # replicas wait this long for one another's answer ("0s": off)
//! memory_tier = false          # two tiers: memory (max_bytes, max_entries) in front of Redis
//! memory_tier_ttl = "60s"      # an entry read from Redis stays in memory this long at most
//!
//! [prefix]
//! enabled = true
//! stable_serialisation = true
//! markers = true
//! detectors = true
//! anthropic_breakpoints = true
//! prompt_cache_key = true
//!
//! [batch]
//! enabled = true              # concurrent embeddings requests coalesced
//! window = "2ms"              # the first of a batch waits this long for others
//! max_inputs = 2048           # inputs per upstream request at most
//! poll_interval = "30s"       # Batch API jobs (POST /admin/batches): time between looks
//!
//! [alerts]
//! window = "5m"               # rates and p95 over this sliding window
//! max_error_rate = 0.05       # error_rate fires above
//! min_cache_hit_rate = 0.3    # cache_hit_rate fires below, once
//! min_calls_for_cache = 50    # this many calls were seen in the window
//! min_prompt_cache_ratio = 0.5  # prompt_cache_ratio fires below, per cacheable prefix
//! # latency_p95 = "20s"       # latency_p95 fires above, for every model
//! [alerts.latency_p95_by_model]
//! # "gpt-4o*" = "10s"
//!
//! [metrics]
//! enabled = true
//! opentelemetry_names = false
//! stream_usage = true         # streamed chat calls' usage counted (the client's stream unchanged)
//! # prices_file = "prices.toml"   # rows added to or replacing the shipped price table
//!
//! [retry]
//! enabled = true
//! max_attempts = 3            # in all, the first included
//! max_total_wait = "30s"      # a longer retry-after returns the answer at once
//! base_delay = "500ms"        # backoff: full jitter below a ceiling doubling
//! max_delay = "8s"            # from base_delay up to max_delay
//! budget_ratio = 0.2          # retries as a share of recent calls
//! budget_min_per_second = 10  # plus this many a second
//! budget_window = "10s"
//! first_chunk_gate = true     # a body failing before its first byte is retried
//! max_error_body_bytes = 65536
//!
//! [rate_limit]
//! enabled = true
//! when_spent = "wait"         # or "fail_fast": a 429 at once while a key's quota is spent
//! max_wait = "10s"            # a later reset is a 429 at once
//! max_waiting = 64            # calls waiting per key and model
//! max_partitions = 4096
//!
//! [breaker]
//! enabled = true
//! failure_ratio = 0.5         # open at this share of failed calls
//! min_calls = 20              # in a window holding at least this many
//! window = "30s"
//! cool_down = "30s"           # open this long, then half-open
//! half_open_probes = 3
//! max_breakers = 256
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

mod resilience;
pub use resilience::{BreakerSection, RateLimitSection, RetrySection, SpentQuota};

/// Everything the proxy needs to start. `Default` is the documented default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Base URL of OpenAI-compatible requests (an origin, or an origin
    /// and a base path the request path is appended to). Default
    /// `https://api.openai.com`.
    pub upstream: String,
    /// Base URL of Anthropic requests. Default: `upstream` when that was set
    /// explicitly, otherwise `https://api.anthropic.com`.
    pub anthropic_upstream: Option<String>,
    /// Path prefix that marks Anthropic requests (stripped before
    /// forwarding). Default `/anthropic`.
    pub anthropic_prefix: String,
    /// Base URL of Gemini requests. Default: `upstream` when that was set
    /// explicitly, otherwise `https://generativelanguage.googleapis.com`.
    pub gemini_upstream: Option<String>,
    /// Path prefix that marks Gemini requests (stripped before
    /// forwarding). Default `/gemini`.
    pub gemini_prefix: String,
    /// Serve HTTPS with this certificate chain (PEM); needs `tls_key`.
    /// HTTP/2 is offered through ALPN. Default none: plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Bearer token of the admin routes; without one they refuse everyone.
    pub admin_token: Option<String>,
    /// Largest request body accepted (413 beyond). Default 32 MiB.
    pub max_request_bytes: usize,
    /// Environment variable holding a server-held OpenAI key for clients
    /// that send none.
    pub openai_key_env: Option<String>,
    /// Environment variable holding a server-held Anthropic key.
    pub anthropic_key_env: Option<String>,
    /// Environment variable holding a server-held Gemini key.
    pub gemini_key_env: Option<String>,
    /// Start the embedded mock provider and send everything to it.
    pub mock: bool,
    /// Upstream: time to the response head (504 beyond). Default 60 s;
    /// `0s` turns it off.
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// Upstream: idle time between body chunks (a stream then ends with
    /// the provider's error event). Default 60 s; `0s` turns it off.
    #[serde(with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
    /// Upstream: the whole call. Default 10 minutes; `0s` turns it off.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Clients: time to send a request's head (HTTP/1.1). Default 10 s.
    #[serde(with = "humantime_serde")]
    pub client_header_timeout: Duration,
    /// Clients: time to send a request's body (408 beyond). Default 30 s.
    #[serde(with = "humantime_serde")]
    pub client_body_timeout: Duration,
    /// Clients: a connection with no request in flight is closed after
    /// this long. Default 60 s. An HTTP/1.1 connection that has answered
    /// a request waits for its next head at most `client_header_timeout`.
    #[serde(with = "humantime_serde")]
    pub keep_alive_timeout: Duration,
    /// Clients: open connections at most; more wait to be accepted, and
    /// while one waits, the connection idle the longest (nothing in
    /// flight for a second at least) is closed to make room. Default 1024.
    pub max_connections: usize,
    /// The binary's runtime threads; `None` (the default): one per core.
    /// Fewer than the cores when other busy processes share them (a
    /// sidecar, a load generator on the same machine): a worker that
    /// another process preempts at every wake-up costs more than the
    /// parallelism it brings (BENCHMARKS.md). Code that embeds the proxy
    /// with [`crate::start`] runs it on its own runtime instead.
    pub worker_threads: Option<usize>,
    /// SIGTERM: how long in-flight requests and streams may go on before
    /// the rest are closed. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// All request bodies being read at once, in bytes: beyond, new
    /// requests get 503 with `retry-after`. Default 256 MiB.
    pub max_buffered_request_bytes: usize,
    /// The response cache.
    pub cache: CacheSection,
    /// The prompt-prefix repair.
    pub prefix: PrefixSection,
    /// Metrics.
    pub metrics: MetricsSection,
    /// Retries.
    pub retry: RetrySection,
    /// Circuit breakers.
    pub breaker: BreakerSection,
    /// Rate-limit awareness.
    pub rate_limit: RateLimitSection,
    /// Embeddings coalescing.
    pub batch: BatchSection,
    /// Health alert thresholds.
    pub alerts: AlertsSection,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            upstream: DEFAULT_OPENAI.to_owned(),
            anthropic_upstream: None,
            anthropic_prefix: "/anthropic".to_owned(),
            gemini_upstream: None,
            gemini_prefix: "/gemini".to_owned(),
            tls_cert: None,
            tls_key: None,
            admin_token: None,
            max_request_bytes: 32 << 20,
            openai_key_env: None,
            anthropic_key_env: None,
            gemini_key_env: None,
            mock: false,
            first_byte_timeout: Duration::from_secs(60),
            stream_idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(600),
            client_header_timeout: Duration::from_secs(10),
            client_body_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 1024,
            worker_threads: None,
            shutdown_grace: Duration::from_secs(30),
            max_buffered_request_bytes: 256 << 20,
            cache: CacheSection::default(),
            prefix: PrefixSection::default(),
            metrics: MetricsSection::default(),
            retry: RetrySection::default(),
            breaker: BreakerSection::default(),
            rate_limit: RateLimitSection::default(),
            batch: BatchSection::default(),
            alerts: AlertsSection::default(),
        }
    }
}

llm_layers::core::config_setters!(ProxyConfig {
    listen: SocketAddr,
    upstream: String,
    anthropic_upstream: Option<String>,
    anthropic_prefix: String,
    gemini_upstream: Option<String>,
    gemini_prefix: String,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    admin_token: Option<String>,
    max_request_bytes: usize,
    openai_key_env: Option<String>,
    anthropic_key_env: Option<String>,
    gemini_key_env: Option<String>,
    mock: bool,
    first_byte_timeout: Duration,
    stream_idle_timeout: Duration,
    request_timeout: Duration,
    client_header_timeout: Duration,
    client_body_timeout: Duration,
    keep_alive_timeout: Duration,
    max_connections: usize,
    worker_threads: Option<usize>,
    shutdown_grace: Duration,
    max_buffered_request_bytes: usize,
    cache: CacheSection,
    prefix: PrefixSection,
    metrics: MetricsSection,
    retry: RetrySection,
    breaker: BreakerSection,
    rate_limit: RateLimitSection,
    batch: BatchSection,
    alerts: AlertsSection,
});

/// The default OpenAI origin.
pub const DEFAULT_OPENAI: &str = "https://api.openai.com";
/// The default Anthropic origin.
pub const DEFAULT_ANTHROPIC: &str = "https://api.anthropic.com";
/// The default Gemini origin.
pub const DEFAULT_GEMINI: &str = "https://generativelanguage.googleapis.com";

impl ProxyConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<ProxyConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        ProxyConfig::from_toml(&text)
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<ProxyConfig, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError::Parse(error.to_string()))
    }

    /// Refuses what would start an unsafe or stuck proxy: an empty admin
    /// token, client timeouts of zero, no connection allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self
            .admin_token
            .as_deref()
            .is_some_and(|token| token.trim().is_empty())
        {
            return Err(ConfigError::EmptyAdminToken);
        }
        for (name, value) in [
            ("client_header_timeout", self.client_header_timeout),
            ("client_body_timeout", self.client_body_timeout),
            ("keep_alive_timeout", self.keep_alive_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid(format!("{name} must be more than 0")));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key go together: give both, or neither".into(),
            ));
        }
        if self.worker_threads == Some(0) {
            return Err(ConfigError::Invalid(
                "worker_threads must be more than 0 (leave it out for one per core)".into(),
            ));
        }
        if self.max_connections == 0 || self.max_buffered_request_bytes == 0 {
            return Err(ConfigError::Invalid(
                "max_connections and max_buffered_request_bytes must be more than 0".into(),
            ));
        }
        Ok(())
    }

    /// The upstream timeouts (a zero turns one off).
    pub fn upstream_timeouts(&self) -> llm_layers::resilience::UpstreamTimeouts {
        let on = |limit: Duration| (!limit.is_zero()).then_some(limit);
        llm_layers::resilience::UpstreamTimeouts::default()
            .first_byte(on(self.first_byte_timeout))
            .stream_idle(on(self.stream_idle_timeout))
            .total(on(self.request_timeout))
    }

    /// The Anthropic origin this configuration means.
    pub fn anthropic_origin(&self) -> &str {
        match &self.anthropic_upstream {
            Some(origin) => origin,
            None if self.upstream != DEFAULT_OPENAI => &self.upstream,
            None => DEFAULT_ANTHROPIC,
        }
    }

    /// The Gemini base URL this configuration means.
    pub fn gemini_origin(&self) -> &str {
        match &self.gemini_upstream {
            Some(origin) => origin,
            None if self.upstream != DEFAULT_OPENAI => &self.upstream,
            None => DEFAULT_GEMINI,
        }
    }
}

/// Which store the response cache uses.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In memory (moka), lost on restart.
    #[default]
    Memory,
    /// On disk (redb) at `path`, kept across restarts.
    Disk,
    /// In Redis at `redis_url`, shared by every replica pointed at it.
    Redis,
}

/// `[cache]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheSection {
    /// Default true.
    pub enabled: bool,
    /// Default memory.
    pub store: StoreKind,
    /// The disk store's file. Default `llm-cache.redb`.
    pub path: PathBuf,
    /// Bytes held at most. Default 256 MiB.
    pub max_bytes: u64,
    /// Entries held at most. Default 100,000.
    pub max_entries: u64,
    /// Freshness of an entry. Default 3600 s.
    pub ttl_seconds: u64,
    /// Let clients with different keys share answers. Default false.
    pub share_across_credentials: bool,
    /// The Redis store's server (`redis://HOST:PORT/DB`, `rediss://` for
    /// TLS). Default `redis://127.0.0.1:6379/0`.
    pub redis_url: String,
    /// For `rediss://`: a PEM root certificate to trust instead of the
    /// public roots (a private CA). Default none.
    pub redis_ca_file: Option<PathBuf>,
    /// Separates deployments on one Redis database; clearing the cache
    /// clears this namespace only. Default `default`.
    pub redis_namespace: String,
    /// Longest wait for one Redis operation (a miss beyond). Default 50 ms.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// Single flight across replicas: how long one waits for another's
    /// answer before calling the upstream itself. Default 30 s; `0s` off.
    #[serde(with = "humantime_serde")]
    pub redis_flight_wait: Duration,
    /// Two tiers: a memory store (bounded by `max_bytes`, `max_entries`)
    /// in front of Redis. Default false.
    pub memory_tier: bool,
    /// How long an entry read from Redis stays in the memory tier at most
    /// (so a removal elsewhere reaches this replica within it). Default 60 s.
    #[serde(with = "humantime_serde")]
    pub memory_tier_ttl: Duration,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            enabled: true,
            store: StoreKind::Memory,
            path: PathBuf::from("llm-cache.redb"),
            max_bytes: 256 << 20,
            max_entries: 100_000,
            ttl_seconds: 3600,
            share_across_credentials: false,
            redis_url: "redis://127.0.0.1:6379/0".to_owned(),
            redis_ca_file: None,
            redis_namespace: "default".to_owned(),
            redis_timeout: Duration::from_millis(50),
            redis_flight_wait: Duration::from_secs(30),
            memory_tier: false,
            memory_tier_ttl: Duration::from_secs(60),
        }
    }
}

llm_layers::core::config_setters!(CacheSection {
    enabled: bool,
    store: StoreKind,
    path: PathBuf,
    max_bytes: u64,
    max_entries: u64,
    ttl_seconds: u64,
    share_across_credentials: bool,
    redis_url: String,
    redis_ca_file: Option<PathBuf>,
    redis_namespace: String,
    redis_timeout: Duration,
    redis_flight_wait: Duration,
    memory_tier: bool,
    memory_tier_ttl: Duration,
});

/// `[prefix]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PrefixSection {
    /// Default true.
    pub enabled: bool,
    /// Sort tool and schema keys. Default true.
    pub stable_serialisation: bool,
    /// Move `<dynamic>…</dynamic>` spans. Default true.
    pub markers: bool,
    /// Move lines with dates, times and UUIDs. Default true.
    pub detectors: bool,
    /// Place Anthropic breakpoints. Default true.
    pub anthropic_breakpoints: bool,
    /// Set OpenAI's `prompt_cache_key`. Default true.
    pub prompt_cache_key: bool,
}

impl Default for PrefixSection {
    fn default() -> Self {
        PrefixSection {
            enabled: true,
            stable_serialisation: true,
            markers: true,
            detectors: true,
            anthropic_breakpoints: true,
            prompt_cache_key: true,
        }
    }
}

llm_layers::core::config_setters!(PrefixSection {
    enabled: bool,
    stable_serialisation: bool,
    markers: bool,
    detectors: bool,
    anthropic_breakpoints: bool,
    prompt_cache_key: bool,
});

/// `[metrics]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsSection {
    /// Default true.
    pub enabled: bool,
    /// Use the OpenTelemetry GenAI metric names. Default false.
    pub opentelemetry_names: bool,
    /// Ask streamed OpenAI chat calls for their usage
    /// (`stream_options.include_usage`) and take it back out of what the
    /// client receives. Default true.
    pub stream_usage: bool,
    /// A price table (TOML, the format of the shipped
    /// `crates/metrics/data/prices.toml`) whose rows add to or replace the
    /// shipped ones. Default none.
    pub prices_file: Option<PathBuf>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: true,
            opentelemetry_names: false,
            stream_usage: true,
            prices_file: None,
        }
    }
}

llm_layers::core::config_setters!(MetricsSection {
    enabled: bool,
    opentelemetry_names: bool,
    stream_usage: bool,
    prices_file: Option<PathBuf>,
});

/// `[alerts]`: health alert thresholds.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AlertsSection {
    /// The sliding window. Default 5 min.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Error rate above which `error_rate` fires. Default 0.05.
    pub max_error_rate: f64,
    /// Response-cache hit rate below which `cache_hit_rate` fires (after
    /// `min_calls_for_cache` calls in the window). Default 0.30.
    pub min_cache_hit_rate: f64,
    /// Default 50.
    pub min_calls_for_cache: u64,
    /// Share of a cacheable static prefix the provider should serve from
    /// its cache; below it `prompt_cache_ratio` fires for that prefix.
    /// Default 0.5.
    pub min_prompt_cache_ratio: f64,
    /// p95 latency bound of every model (`latency_p95_by_model` first).
    /// Default none.
    #[serde(with = "humantime_serde")]
    pub latency_p95: Option<Duration>,
    /// p95 latency bounds by model (a name, or a prefix ending in `*`).
    #[serde(with = "humantime_serde_map")]
    pub latency_p95_by_model: Vec<(String, Duration)>,
}

impl Default for AlertsSection {
    fn default() -> Self {
        AlertsSection {
            window: Duration::from_secs(300),
            max_error_rate: 0.05,
            min_cache_hit_rate: 0.30,
            min_calls_for_cache: 50,
            min_prompt_cache_ratio: 0.5,
            latency_p95: None,
            latency_p95_by_model: Vec::new(),
        }
    }
}

llm_layers::core::config_setters!(AlertsSection {
    window: Duration,
    max_error_rate: f64,
    min_cache_hit_rate: f64,
    min_calls_for_cache: u64,
    min_prompt_cache_ratio: f64,
    latency_p95: Option<Duration>,
    latency_p95_by_model: Vec<(String, Duration)>,
});

/// `{"gpt-4o*" = "5s"}` as ordered pairs.
mod humantime_serde_map {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, Duration)>, D::Error> {
        let map = toml::Table::deserialize(deserializer)?;
        map.into_iter()
            .map(|(model, value)| {
                let text = value
                    .as_str()
                    .ok_or_else(|| serde::de::Error::custom("a duration such as \"5s\""))?;
                let bound = humantime::parse_duration(text).map_err(serde::de::Error::custom)?;
                Ok((model, bound))
            })
            .collect()
    }
}

/// `[batch]`: embeddings coalescing, and Batch API jobs.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BatchSection {
    /// Default true.
    pub enabled: bool,
    /// How long the first request of a batch waits for others. Default 2 ms.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Inputs per upstream request at most. Default 2048.
    pub max_inputs: usize,
    /// Batch API jobs (`POST /admin/batches`): time between two looks at
    /// a running job. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for BatchSection {
    fn default() -> Self {
        BatchSection {
            enabled: true,
            window: Duration::from_millis(2),
            max_inputs: 2048,
            poll_interval: Duration::from_secs(30),
        }
    }
}

llm_layers::core::config_setters!(BatchSection {
    enabled: bool,
    window: Duration,
    max_inputs: usize,
    poll_interval: Duration,
});

/// The configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// The admin token is empty: it would guard nothing.
    #[error("the admin token is empty: give a non-empty --admin-token (or LLM_PROXY_ADMIN_TOKEN, or admin_token in the file), or none to keep the admin routes closed")]
    EmptyAdminToken,
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// An upstream is not an origin.
    #[error("invalid upstream {0:?}: expected an origin such as https://api.openai.com")]
    Upstream(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses_to_the_defaults_it_states() {
        let example: String = include_str!("config.rs")
            .lines()
            .skip_while(|line| !line.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|line| !line.starts_with("//! ```"))
            .map(|line| line.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let parsed = ProxyConfig::from_toml(&example).unwrap();
        let expected = ProxyConfig {
            anthropic_upstream: Some(DEFAULT_ANTHROPIC.into()),
            admin_token: Some("change-me".into()),
            openai_key_env: Some("OPENAI_API_KEY".into()),
            anthropic_key_env: Some("ANTHROPIC_API_KEY".into()),
            gemini_upstream: Some(DEFAULT_GEMINI.into()),
            gemini_key_env: Some("GEMINI_API_KEY".into()),
            ..ProxyConfig::default()
        };
        assert_eq!(parsed, expected);
    }

    #[test]
    fn alert_thresholds_are_read_from_the_file() {
        let config = ProxyConfig::from_toml(
            "[alerts]\nwindow = \"1m\"\nlatency_p95 = \"20s\"\n[alerts.latency_p95_by_model]\n\"gpt-4o*\" = \"10s\"\n",
        )
        .unwrap();
        assert_eq!(config.alerts.window, Duration::from_secs(60));
        assert_eq!(config.alerts.latency_p95, Some(Duration::from_secs(20)));
        assert_eq!(
            config.alerts.latency_p95_by_model,
            vec![("gpt-4o*".to_owned(), Duration::from_secs(10))]
        );
        assert!(ProxyConfig::from_toml("[alerts.latency_p95_by_model]\nx = 5\n").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = ProxyConfig::from_toml("listn = \"127.0.0.1:1\"").unwrap_err();
        assert!(error.to_string().contains("listn"), "{error}");
    }

    #[test]
    fn anthropic_follows_an_explicit_upstream() {
        let config = ProxyConfig {
            upstream: "http://127.0.0.1:9".into(),
            ..ProxyConfig::default()
        };
        assert_eq!(config.anthropic_origin(), "http://127.0.0.1:9");
        assert_eq!(ProxyConfig::default().anthropic_origin(), DEFAULT_ANTHROPIC);
        assert_eq!(config.gemini_origin(), "http://127.0.0.1:9");
        assert_eq!(ProxyConfig::default().gemini_origin(), DEFAULT_GEMINI);
    }
}
