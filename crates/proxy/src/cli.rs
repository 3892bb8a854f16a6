//! Flags and environment variables, over the configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::config::{ConfigError, ProxyConfig, StoreKind};

mod resilience;
mod store;
pub use resilience::ResilienceArgs;
pub use store::StoreArgs;

/// The environment variable holding the admin token.
const ADMIN_TOKEN_ENV: &str = "LLM_PROXY_ADMIN_TOKEN";

/// An OpenAI- and Anthropic-compatible proxy with response caching,
/// metrics, prompt-prefix repair and connection pooling.
///
/// Precedence: flags, then environment variables, then `--config`, then
/// the defaults.
#[derive(Debug, Parser)]
#[command(name = "llm-layers-proxy", version)]
pub struct Args {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "LLM_PROXY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Base URL of OpenAI-compatible requests, a path allowed [default: https://api.openai.com].
    #[arg(long, env = "LLM_PROXY_UPSTREAM")]
    pub upstream: Option<String>,
    /// Base URL of Anthropic requests (paths under /anthropic) [default:
    /// --upstream if given, else https://api.anthropic.com].
    #[arg(long, env = "LLM_PROXY_ANTHROPIC_UPSTREAM")]
    pub anthropic_upstream: Option<String>,
    /// Base URL of Gemini requests (paths under /gemini) [default:
    /// --upstream if given, else https://generativelanguage.googleapis.com].
    #[arg(long, env = "LLM_PROXY_GEMINI_UPSTREAM")]
    pub gemini_upstream: Option<String>,
    /// Start the embedded mock provider and send everything to it.
    #[arg(long, env = "LLM_PROXY_MOCK")]
    pub mock: bool,
    /// TOML configuration file.
    #[arg(long, env = "LLM_PROXY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "LLM_PROXY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "LLM_PROXY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Bearer token of the admin routes.
    #[arg(long, env = ADMIN_TOKEN_ENV, hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Largest request body accepted, in bytes [default: 33554432].
    #[arg(long, env = "LLM_PROXY_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,
    /// Cache store: memory, disk or redis [default: memory].
    #[arg(long, env = "LLM_PROXY_CACHE_STORE", value_parser = ["memory", "disk", "redis"])]
    pub cache_store: Option<String>,
    /// The disk store's file [default: llm-cache.redb].
    #[arg(long, env = "LLM_PROXY_CACHE_PATH")]
    pub cache_path: Option<PathBuf>,
    /// Cache entry freshness in seconds [default: 3600].
    #[arg(long, env = "LLM_PROXY_CACHE_TTL_SECONDS")]
    pub cache_ttl_seconds: Option<u64>,
    /// Upstream: time to the response head, e.g. 500ms, 30s [default: 60s].
    #[arg(long, env = "LLM_PROXY_FIRST_BYTE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub first_byte_timeout: Option<Duration>,
    /// Upstream: idle time between body chunks [default: 60s].
    #[arg(long, env = "LLM_PROXY_STREAM_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub stream_idle_timeout: Option<Duration>,
    /// Upstream: the whole call [default: 10m].
    #[arg(long, env = "LLM_PROXY_REQUEST_TIMEOUT", value_parser = humantime::parse_duration)]
    pub request_timeout: Option<Duration>,
    /// Clients: time to send a request's head [default: 10s].
    #[arg(long, env = "LLM_PROXY_CLIENT_HEADER_TIMEOUT", value_parser = humantime::parse_duration)]
    pub client_header_timeout: Option<Duration>,
    /// Clients: time to send a request's body [default: 30s].
    #[arg(long, env = "LLM_PROXY_CLIENT_BODY_TIMEOUT", value_parser = humantime::parse_duration)]
    pub client_body_timeout: Option<Duration>,
    /// Clients: idle connections are closed after this [default: 60s].
    #[arg(long, env = "LLM_PROXY_KEEP_ALIVE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub keep_alive_timeout: Option<Duration>,
    /// Clients: open connections at most [default: 1024].
    #[arg(long, env = "LLM_PROXY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Runtime threads [default: one per core].
    #[arg(long, env = "LLM_PROXY_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// SIGTERM: how long in-flight work may go on [default: 30s].
    #[arg(long, env = "LLM_PROXY_SHUTDOWN_GRACE", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// All request bodies being read at once, in bytes [default: 268435456].
    #[arg(long, env = "LLM_PROXY_MAX_BUFFERED_REQUEST_BYTES")]
    pub max_buffered_request_bytes: Option<usize>,
    /// Turn the response cache off.
    #[arg(long, env = "LLM_PROXY_NO_CACHE")]
    pub no_cache: bool,
    /// Turn prompt-prefix repair off.
    #[arg(long, env = "LLM_PROXY_NO_PREFIX")]
    pub no_prefix: bool,
    /// Turn metrics off.
    #[arg(long, env = "LLM_PROXY_NO_METRICS")]
    pub no_metrics: bool,
    /// The Redis store and the memory tier.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Retries and circuit breakers.
    #[command(flatten)]
    pub resilience: ResilienceArgs,
}

impl Args {
    /// The configuration: the file (if any) with flags and environment over it.
    pub fn into_config(self) -> Result<ProxyConfig, ConfigError> {
        let mut config = match &self.config {
            Some(path) => ProxyConfig::from_file(path)?,
            None => ProxyConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(upstream) = self.upstream {
            config.upstream = upstream;
        }
        if let Some(upstream) = self.anthropic_upstream {
            config.anthropic_upstream = Some(upstream);
        }
        if let Some(upstream) = self.gemini_upstream {
            config.gemini_upstream = Some(upstream);
        }
        config.mock |= self.mock;
        if let (Some(cert), Some(key)) = (self.tls_cert, self.tls_key) {
            config.tls_cert = Some(cert);
            config.tls_key = Some(key);
        }
        if let Some(token) = self.admin_token {
            config.admin_token = Some(token);
        } else if std::env::var_os(ADMIN_TOKEN_ENV).is_some_and(|value| value.is_empty()) {
            // Set but empty: kept, so that starting refuses it rather than
            // running with the admin routes unguarded or silently closed.
            config.admin_token = Some(String::new());
        }
        if let Some(bytes) = self.max_request_bytes {
            config.max_request_bytes = bytes;
        }
        if let Some(store) = self.cache_store {
            config.cache.store = match store.as_str() {
                "disk" => StoreKind::Disk,
                "redis" => StoreKind::Redis,
                _ => StoreKind::Memory,
            };
        }
        if let Some(path) = self.cache_path {
            config.cache.path = path;
        }
        if let Some(ttl) = self.cache_ttl_seconds {
            config.cache.ttl_seconds = ttl;
        }
        let durations = [
            (self.first_byte_timeout, &mut config.first_byte_timeout),
            (self.stream_idle_timeout, &mut config.stream_idle_timeout),
            (self.request_timeout, &mut config.request_timeout),
            (
                self.client_header_timeout,
                &mut config.client_header_timeout,
            ),
            (self.client_body_timeout, &mut config.client_body_timeout),
            (self.keep_alive_timeout, &mut config.keep_alive_timeout),
            (self.shutdown_grace, &mut config.shutdown_grace),
        ];
        for (flag, setting) in durations {
            if let Some(value) = flag {
                *setting = value;
            }
        }
        if let Some(count) = self.max_connections {
            config.max_connections = count;
        }
        if let Some(count) = self.worker_threads {
            config.worker_threads = Some(count);
        }
        if let Some(bytes) = self.max_buffered_request_bytes {
            config.max_buffered_request_bytes = bytes;
        }
        config.cache.enabled &= !self.no_cache;
        config.prefix.enabled &= !self.no_prefix;
        config.metrics.enabled &= !self.no_metrics;
        self.store.apply(&mut config);
        self.resilience.apply(&mut config);
        // Checked whole, flags included.
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsing reads the process environment: tests that set it run one at a time.
    static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn environment_variables_stand_in_for_flags() {
        let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
        std::env::set_var("LLM_PROXY_CACHE_TTL_SECONDS", "42");
        std::env::set_var("LLM_PROXY_NO_METRICS", "true");
        let config = Args::try_parse_from(["llm-layers-proxy", "--cache-ttl-seconds", "7"])
            .unwrap()
            .into_config()
            .unwrap();
        let from_env = Args::try_parse_from(["llm-layers-proxy"])
            .unwrap()
            .into_config()
            .unwrap();
        std::env::remove_var("LLM_PROXY_CACHE_TTL_SECONDS");
        std::env::remove_var("LLM_PROXY_NO_METRICS");
        assert_eq!(
            config.cache.ttl_seconds, 7,
            "a flag wins over the environment"
        );
        assert_eq!(from_env.cache.ttl_seconds, 42);
        assert!(!from_env.metrics.enabled);
    }

    #[test]
    fn an_empty_admin_token_is_refused_from_the_flag_and_the_environment() {
        let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
        let from_flag = Args::try_parse_from(["llm-layers-proxy", "--admin-token", ""])
            .unwrap()
            .into_config();
        assert!(matches!(from_flag, Err(ConfigError::EmptyAdminToken)));
        std::env::set_var(ADMIN_TOKEN_ENV, "");
        let from_env = Args::try_parse_from(["llm-layers-proxy"])
            .unwrap()
            .into_config();
        std::env::remove_var(ADMIN_TOKEN_ENV);
        assert!(matches!(from_env, Err(ConfigError::EmptyAdminToken)));
    }

    #[test]
    fn durations_read_as_humans_write_them() {
        let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
        std::env::set_var("LLM_PROXY_SHUTDOWN_GRACE", "2s");
        let config = Args::try_parse_from([
            "llm-layers-proxy",
            "--first-byte-timeout",
            "500ms",
            "--stream-idle-timeout",
            "30s",
            "--request-timeout",
            "10m",
            "--client-header-timeout",
            "1s",
        ])
        .unwrap()
        .into_config()
        .unwrap();
        std::env::remove_var("LLM_PROXY_SHUTDOWN_GRACE");
        assert_eq!(config.first_byte_timeout, Duration::from_millis(500));
        assert_eq!(config.stream_idle_timeout, Duration::from_secs(30));
        assert_eq!(config.request_timeout, Duration::from_secs(600));
        assert_eq!(config.client_header_timeout, Duration::from_secs(1));
        assert_eq!(config.shutdown_grace, Duration::from_secs(2));
        assert!(Args::try_parse_from(["llm-layers-proxy", "--request-timeout", "soon"]).is_err());
        let from_file =
            ProxyConfig::from_toml("request_timeout = \"90s\"\nshutdown_grace = \"1m\"").unwrap();
        assert_eq!(from_file.request_timeout, Duration::from_secs(90));
        assert_eq!(from_file.shutdown_grace, Duration::from_secs(60));
    }

    #[test]
    fn worker_threads_come_from_the_flag_or_the_file() {
        let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
        let default = Args::try_parse_from(["llm-layers-proxy"]).unwrap();
        assert_eq!(default.into_config().unwrap().worker_threads, None);
        let flag = Args::try_parse_from(["llm-layers-proxy", "--worker-threads", "1"]).unwrap();
        assert_eq!(flag.into_config().unwrap().worker_threads, Some(1));
        let file = ProxyConfig::from_toml("worker_threads = 2").unwrap();
        assert_eq!(file.worker_threads, Some(2));
        assert!(ProxyConfig::from_toml("worker_threads = 0")
            .unwrap()
            .validate()
            .is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("llm-proxy-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("proxy.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\nadmin_token = \"file\"\n[cache]\nttl_seconds = 5\n",
        )
        .unwrap();
        let args = Args::try_parse_from([
            "llm-layers-proxy",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:2",
            "--no-prefix",
        ])
        .unwrap();
        let config = args.into_config().unwrap();
        assert_eq!(config.listen, "127.0.0.1:2".parse().unwrap());
        assert_eq!(config.admin_token.as_deref(), Some("file"));
        assert_eq!(config.cache.ttl_seconds, 5);
        assert!(!config.prefix.enabled);
        assert!(config.cache.enabled);
    }

    #[test]
    fn store_flags_choose_redis_and_two_tiers() {
        let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
        std::env::set_var("LLM_PROXY_REDIS_NAMESPACE", "replicas");
        let config = Args::try_parse_from([
            "llm-layers-proxy",
            "--cache-store",
            "redis",
            "--redis-url",
            "redis://10.0.0.5:6380/2",
            "--redis-timeout",
            "20ms",
            "--redis-flight-wait",
            "0s",
            "--cache-memory-tier",
            "true",
            "--cache-memory-tier-ttl",
            "5s",
        ])
        .unwrap()
        .into_config()
        .unwrap();
        std::env::remove_var("LLM_PROXY_REDIS_NAMESPACE");
        let cache = &config.cache;
        assert_eq!(cache.store, StoreKind::Redis);
        assert_eq!(cache.redis_url, "redis://10.0.0.5:6380/2");
        assert_eq!(cache.redis_namespace, "replicas");
        assert_eq!(cache.redis_timeout, Duration::from_millis(20));
        assert_eq!(cache.redis_flight_wait, Duration::ZERO);
        assert!(cache.memory_tier);
        assert_eq!(cache.memory_tier_ttl, Duration::from_secs(5));
    }

    #[test]
    fn resilience_flags_set_their_sections() {
        let _alone = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
        let config = Args::try_parse_from([
            "llm-layers-proxy",
            "--retry-max-attempts",
            "5",
            "--retry-max-total-wait",
            "2s",
            "--breaker-cool-down",
            "10s",
            "--breaker-min-calls",
            "7",
            "--no-breaker",
            "--retry-first-chunk-gate",
            "false",
            "--rate-limit-when-spent",
            "fail_fast",
        ])
        .unwrap()
        .into_config()
        .unwrap();
        assert_eq!(config.retry.max_attempts, 5);
        assert_eq!(config.retry.max_total_wait, Duration::from_secs(2));
        assert!(config.retry.enabled);
        assert_eq!(config.breaker.cool_down, Duration::from_secs(10));
        assert_eq!(config.breaker.min_calls, 7);
        assert!(!config.breaker.enabled);
        assert!(!config.retry.first_chunk_gate);
        assert_eq!(
            config.rate_limit.when_spent,
            crate::config::SpentQuota::FailFast
        );
        let defaults = Args::try_parse_from(["llm-layers-proxy"])
            .unwrap()
            .into_config()
            .unwrap();
        assert!(
            defaults.retry.enabled && defaults.breaker.enabled,
            "on by default"
        );
    }
}
