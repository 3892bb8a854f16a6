//! `llm-layers-proxy`: an OpenAI- and Anthropic-compatible HTTP proxy built
//! from the llm-layers stack, so any language's SDK gets response caching,
//! metrics, prompt-prefix repair and connection pooling by changing its
//! base URL.
//!
//! | route | does |
//! |---|---|
//! | `/v1/...` (anything not below) | forwarded to the OpenAI-compatible upstream, path and query as they came |
//! | `/anthropic/v1/...` | forwarded to the Anthropic upstream as `/v1/...` |
//! | `GET /healthz` | `ok` |
//! | `GET /metrics` | Prometheus text |
//! | `GET /stats` | calls, cache, pool and prompt-prefix figures as JSON |
//! | `POST /admin/cache/clear` | removes every cached answer; `{"removed": n}` |
//! | `GET /admin/cache/stats` | cache figures |
//!
//! Admin routes need `Authorization: Bearer <admin token>` and answer 401
//! otherwise. The client's own key is passed through (the cache partitions
//! by it); a server-held key (`openai_key_env`, `anthropic_key_env`) is
//! added only to requests that carry none. Streams pass through as they
//! arrive; credentials are marked sensitive, so request logs never show them.
//!
//! ```no_run
//! use llm_layers_proxy::{start, ProxyConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let proxy = start(ProxyConfig::default().mock(true)).await?;
//! println!("listening on {}", proxy.url());
//! proxy.run_until(async { tokio::signal::ctrl_c().await.unwrap() }).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod activity;
mod admin;
pub mod batches;
pub mod cli;
pub mod config;
pub mod embedded_mock;
mod forward;
mod head_timer;
mod layers;
mod open_connections;
pub mod prometheus;
mod serve;
mod server;
pub mod tls;
pub mod upstream;

pub use config::{ConfigError, ProxyConfig};
pub use server::{start, AppState, RunningProxy, StartError};
