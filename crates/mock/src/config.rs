//! How a mock server behaves.

use std::time::Duration;

use crate::fault::Fault;

/// Settings of a [`crate::MockServer`]. `Default` gives an instant, plain
/// HTTP server on an ephemeral loopback port.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MockConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Serve HTTPS with a self-signed certificate made at start.
    pub tls: bool,
    /// Delay before the response head (time to first byte).
    pub latency: Duration,
    /// Delay before each streamed chunk after the first.
    pub chunk_delay: Duration,
    /// Extra time to first byte per 1,000 prompt tokens the emulated prompt
    /// cache did not serve: stands for prefill, which providers skip for
    /// cached prefixes.
    pub prefill_per_1k_tokens: Duration,
    /// Delay after accepting a TCP connection, before the TLS handshake and
    /// the first request: stands for the network round trips of connection
    /// set-up that loopback does not have.
    pub connect_delay: Duration,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long an emulated OpenAI prompt-cache entry lives after its last use.
    pub prompt_cache_ttl: Duration,
    /// A fault injected into every request (a request's own
    /// `x-mock-fault` header takes precedence).
    pub fault: Option<Fault>,
    /// How many recent requests [`crate::MockServer::recent_requests`] keeps.
    pub recent_requests: usize,
    /// Close an HTTP/1.1 connection that has waited this long for its next
    /// request, as real servers' keep-alive timeouts do.
    pub idle_timeout: Option<Duration>,
    /// How long a Batch API job stays `in_progress` before it completes.
    pub batch_delay: Duration,
    /// The `SETTINGS_MAX_CONCURRENT_STREAMS` announced on HTTP/2
    /// connections; `None`: hyper's default (200).
    pub http2_max_concurrent_streams: Option<u32>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            port: 0,
            tls: false,
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            prefill_per_1k_tokens: Duration::ZERO,
            connect_delay: Duration::ZERO,
            max_body_bytes: 8 << 20,
            prompt_cache_ttl: Duration::from_secs(300),
            fault: None,
            recent_requests: 64,
            idle_timeout: None,
            batch_delay: Duration::from_millis(50),
            http2_max_concurrent_streams: None,
        }
    }
}

llm_layers_core::config_setters!(MockConfig {
    port: u16,
    tls: bool,
    latency: Duration,
    chunk_delay: Duration,
    prefill_per_1k_tokens: Duration,
    connect_delay: Duration,
    max_body_bytes: usize,
    prompt_cache_ttl: Duration,
    fault: Option<Fault>,
    recent_requests: usize,
    idle_timeout: Option<Duration>,
    batch_delay: Duration,
    http2_max_concurrent_streams: Option<u32>,
});
