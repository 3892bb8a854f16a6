//! How a [`crate::RedisStore`] connects and behaves, with the defaults
//! documented.

use std::time::Duration;

/// Settings of a [`crate::RedisStore`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db`, or `rediss://` for TLS.
    /// Default `redis://127.0.0.1:6379/0`. Never logged.
    pub url: String,
    /// For `rediss://`: a root certificate (PEM) to trust instead of the
    /// public roots (a private CA, a self-signed server). Default none.
    pub root_certificate_pem: Option<Vec<u8>>,
    /// The first part of every key this store writes. Default `llm-layers`.
    pub key_prefix: String,
    /// Separates deployments sharing one Redis database; `clear` removes
    /// this namespace's entries only. Default `default`.
    pub namespace: String,
    /// Longest wait for any one Redis operation: beyond it the operation
    /// counts as failed and the request goes on as a miss. Default 50 ms.
    pub operation_timeout: Duration,
    /// Time to open a connection. Default 1 s.
    pub connect_timeout: Duration,
    /// While Redis is down, one operation in this long is tried (the
    /// others fail at once, without waiting). Default 1 s.
    pub probe_interval: Duration,
    /// Largest entry written to Redis; larger ones are refused. Default 8 MiB.
    pub max_entry_bytes: usize,
    /// Single flight across processes: how long a process waits for
    /// another process's answer before calling the upstream itself.
    /// Default 30 s; zero turns cross-process single flight off.
    pub flight_wait: Duration,
    /// How long a leader's lock lives without renewal (it is renewed at a
    /// third of this while the leader runs, so a crashed leader frees it
    /// within this long). Default 10 s.
    pub flight_lease: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379/0".into(),
            root_certificate_pem: None,
            key_prefix: "llm-layers".into(),
            namespace: "default".into(),
            operation_timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(1),
            probe_interval: Duration::from_secs(1),
            max_entry_bytes: 8 << 20,
            flight_wait: Duration::from_secs(30),
            flight_lease: Duration::from_secs(10),
        }
    }
}

llm_layers_core::config_setters!(RedisConfig {
    url: String,
    root_certificate_pem: Option<Vec<u8>>,
    key_prefix: String,
    namespace: String,
    operation_timeout: Duration,
    connect_timeout: Duration,
    probe_interval: Duration,
    max_entry_bytes: usize,
    flight_wait: Duration,
    flight_lease: Duration,
});
