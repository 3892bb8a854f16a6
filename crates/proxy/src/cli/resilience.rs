//! The resilience layers' flags and environment variables.

use std::time::Duration;

use crate::config::{ProxyConfig, SpentQuota};

/// Retry and circuit-breaker settings, over `[retry]` and `[breaker]`.
#[derive(Debug, clap::Args)]
pub struct ResilienceArgs {
    /// Turn retries off.
    #[arg(long, env = "LLM_PROXY_NO_RETRY")]
    pub no_retry: bool,
    /// Attempts in all, the first included [default: 3].
    #[arg(long, env = "LLM_PROXY_RETRY_MAX_ATTEMPTS")]
    pub retry_max_attempts: Option<u32>,
    /// Waiting between attempts, in all [default: 30s].
    #[arg(long, env = "LLM_PROXY_RETRY_MAX_TOTAL_WAIT", value_parser = humantime::parse_duration)]
    pub retry_max_total_wait: Option<Duration>,
    /// The backoff's first ceiling [default: 500ms].
    #[arg(long, env = "LLM_PROXY_RETRY_BASE_DELAY", value_parser = humantime::parse_duration)]
    pub retry_base_delay: Option<Duration>,
    /// The backoff's highest ceiling [default: 8s].
    #[arg(long, env = "LLM_PROXY_RETRY_MAX_DELAY", value_parser = humantime::parse_duration)]
    pub retry_max_delay: Option<Duration>,
    /// Retries allowed as a share of recent calls [default: 0.2].
    #[arg(long, env = "LLM_PROXY_RETRY_BUDGET_RATIO")]
    pub retry_budget_ratio: Option<f32>,
    /// Retries allowed a second whatever the share [default: 10].
    #[arg(long, env = "LLM_PROXY_RETRY_BUDGET_MIN_PER_SECOND")]
    pub retry_budget_min_per_second: Option<u32>,
    /// How long a call counts toward the retry budget [default: 10s].
    #[arg(long, env = "LLM_PROXY_RETRY_BUDGET_WINDOW", value_parser = humantime::parse_duration)]
    pub retry_budget_window: Option<Duration>,
    /// Hold answers until their first byte, so early failures retry [default: true].
    #[arg(long, env = "LLM_PROXY_RETRY_FIRST_CHUNK_GATE")]
    pub retry_first_chunk_gate: Option<bool>,
    /// Largest error body read to decide on a retry [default: 65536].
    #[arg(long, env = "LLM_PROXY_RETRY_MAX_ERROR_BODY_BYTES")]
    pub retry_max_error_body_bytes: Option<usize>,
    /// Turn rate-limit awareness off.
    #[arg(long, env = "LLM_PROXY_NO_RATE_LIMIT")]
    pub no_rate_limit: bool,
    /// While a key's quota is spent: wait or fail_fast [default: wait].
    #[arg(long, env = "LLM_PROXY_RATE_LIMIT_WHEN_SPENT", value_parser = ["wait", "fail_fast"])]
    pub rate_limit_when_spent: Option<String>,
    /// The longest a call waits for a quota's reset [default: 10s].
    #[arg(long, env = "LLM_PROXY_RATE_LIMIT_MAX_WAIT", value_parser = humantime::parse_duration)]
    pub rate_limit_max_wait: Option<Duration>,
    /// Calls waiting at once per key and model [default: 64].
    #[arg(long, env = "LLM_PROXY_RATE_LIMIT_MAX_WAITING")]
    pub rate_limit_max_waiting: Option<usize>,
    /// Keys and models rate-limit awareness remembers [default: 4096].
    #[arg(long, env = "LLM_PROXY_RATE_LIMIT_MAX_PARTITIONS")]
    pub rate_limit_max_partitions: Option<usize>,
    /// Turn the circuit breakers off.
    #[arg(long, env = "LLM_PROXY_NO_BREAKER")]
    pub no_breaker: bool,
    /// The share of failed calls that opens a breaker [default: 0.5].
    #[arg(long, env = "LLM_PROXY_BREAKER_FAILURE_RATIO")]
    pub breaker_failure_ratio: Option<f64>,
    /// Calls a window must hold before the share counts [default: 20].
    #[arg(long, env = "LLM_PROXY_BREAKER_MIN_CALLS")]
    pub breaker_min_calls: Option<u32>,
    /// The breakers' sliding window [default: 30s].
    #[arg(long, env = "LLM_PROXY_BREAKER_WINDOW", value_parser = humantime::parse_duration)]
    pub breaker_window: Option<Duration>,
    /// How long a breaker stays open [default: 30s].
    #[arg(long, env = "LLM_PROXY_BREAKER_COOL_DOWN", value_parser = humantime::parse_duration)]
    pub breaker_cool_down: Option<Duration>,
    /// Probes admitted while half-open [default: 3].
    #[arg(long, env = "LLM_PROXY_BREAKER_HALF_OPEN_PROBES")]
    pub breaker_half_open_probes: Option<u32>,
    /// Breakers kept, one per origin and model [default: 256].
    #[arg(long, env = "LLM_PROXY_BREAKER_MAX_BREAKERS")]
    pub breaker_max_breakers: Option<usize>,
}

impl ResilienceArgs {
    /// Sets what was given over `config`.
    pub fn apply(self, config: &mut ProxyConfig) {
        let retry = &mut config.retry;
        retry.enabled &= !self.no_retry;
        set(&mut retry.max_attempts, self.retry_max_attempts);
        set(&mut retry.max_total_wait, self.retry_max_total_wait);
        set(&mut retry.base_delay, self.retry_base_delay);
        set(&mut retry.max_delay, self.retry_max_delay);
        set(&mut retry.budget_ratio, self.retry_budget_ratio);
        set(
            &mut retry.budget_min_per_second,
            self.retry_budget_min_per_second,
        );
        set(&mut retry.budget_window, self.retry_budget_window);
        set(&mut retry.first_chunk_gate, self.retry_first_chunk_gate);
        set(
            &mut retry.max_error_body_bytes,
            self.retry_max_error_body_bytes,
        );
        let rate_limit = &mut config.rate_limit;
        rate_limit.enabled &= !self.no_rate_limit;
        let when_spent = self.rate_limit_when_spent.map(|when| match when.as_str() {
            "fail_fast" => SpentQuota::FailFast,
            _ => SpentQuota::Wait,
        });
        set(&mut rate_limit.when_spent, when_spent);
        set(&mut rate_limit.max_wait, self.rate_limit_max_wait);
        set(&mut rate_limit.max_waiting, self.rate_limit_max_waiting);
        set(
            &mut rate_limit.max_partitions,
            self.rate_limit_max_partitions,
        );
        let breaker = &mut config.breaker;
        breaker.enabled &= !self.no_breaker;
        set(&mut breaker.failure_ratio, self.breaker_failure_ratio);
        set(&mut breaker.min_calls, self.breaker_min_calls);
        set(&mut breaker.window, self.breaker_window);
        set(&mut breaker.cool_down, self.breaker_cool_down);
        set(&mut breaker.half_open_probes, self.breaker_half_open_probes);
        set(&mut breaker.max_breakers, self.breaker_max_breakers);
    }
}

fn set<T>(setting: &mut T, given: Option<T>) {
    if let Some(value) = given {
        *setting = value;
    }
}
