//! `CacheLayer`: answers repeated LLM API requests from a response cache,
//! streams included.
//!
//! - **What is cached**: POST requests to a known API (OpenAI chat,
//!   completions, responses, embeddings; Anthropic messages; Gemini
//!   generate) with a JSON body naming a model; 2xx answers whose body ended
//!   normally, unless the upstream said `Cache-Control: no-store`. Errors,
//!   429s, cut or failed streams and answers larger than
//!   [`CacheConfig::max_entry_bytes`] are never stored. Anything else passes
//!   through untouched.
//! - **Key**: the core's canonical key (method, target, canonical JSON
//!   body), **partitioned by credential**: one API key never reads
//!   another's answers unless [`CacheConfig::share_across_credentials`] is
//!   set. A namespace (configuration or `x-llm-cache-namespace`) separates
//!   applications. A streamed and a plain request never share an entry.
//! - **Streams**: a streamed miss reaches the caller chunk by chunk while it
//!   is recorded, and is stored only if it ended normally; a streamed hit
//!   replays the recorded chunks byte for byte.
//! - **Stores**: [`MemoryStore`] (default; moka, bounded by bytes and
//!   entries), `DiskStore` (feature `disk`, on by default: one redb file;
//!   survives restarts and crashes) and `RedisStore` (feature `redis`: one
//!   cache for many processes, with single flight across them), behind the
//!   [`CacheStore`] trait; [`TieredStore`] puts memory in front of another
//!   store. A store error never fails a request: the layer calls the
//!   upstream instead and counts the error.
//! - **Single flight**: concurrent identical misses make one upstream
//!   call; the others receive its answer as it arrives, from the first
//!   chunk, and fall back to their own call if it cannot be shared.
//! - **Controls**: see [`controls`] (`Cache-Control`, mode, TTL and
//!   namespace per request) and [`CacheMode`].
//! - **Outcome**: every response carries `x-llm-cache` (`HIT`, `MISS`,
//!   `BYPASS`, `REFRESH`), `age` on hits, and a
//!   [`CacheStatus`](llm_layers_core::CacheStatus) extension for outer
//!   layers.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_cache::{CacheConfig, CacheLayer};
//! use llm_layers_mock::{MockConfig, MockServer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default()).await.unwrap();
//! let layer = CacheLayer::new(CacheConfig::default());
//! let client = ServiceBuilder::new()
//!     .layer(layer.clone())
//!     .service(llm_layers_connector::HyperConnector::builder().build().unwrap());
//! for expected in ["MISS", "HIT"] {
//!     let request = http::Request::post(format!("{}/v1/embeddings", mock.base_url()))
//!         .header("authorization", "Bearer sk-demo")
//!         .body(Full::new(Bytes::from_static(br#"{"model":"e","input":"hi"}"#)))
//!         .unwrap();
//!     let response = client.clone().oneshot(request).await.unwrap();
//!     assert_eq!(response.headers()["x-llm-cache"], expected);
//!     response.into_body().collect().await.unwrap();
//! }
//! assert_eq!(mock.stats().requests_total, 1);
//! # });
//! ```
#![warn(missing_docs)]

mod body;
mod cache_control;
pub mod codec;
mod config;
pub mod controls;
#[cfg(feature = "disk")]
mod disk;
mod drive;
mod entry;
mod fill;
mod flight;
pub mod headers;
mod layer;
mod memory;
mod mode;
mod plan;
mod recorder;
#[cfg(feature = "redis")]
pub mod redis;
mod replay;
mod service;
mod stats;
mod store;
mod tiered;
mod writes;

pub use body::ResponseBody;
pub use config::CacheConfig;
pub use controls::CacheControls;
#[cfg(feature = "disk")]
pub use disk::DiskStore;
pub use entry::{CachedBody, CachedResponse, TimedChunk};
pub use flight::LeaderFailed;
pub use layer::CacheLayer;
pub use memory::{MemoryBounds, MemoryStore};
pub use mode::{CacheMode, UnknownMode};
#[cfg(feature = "redis")]
pub use redis::{RedisConfig, RedisStore};
pub use service::{Cache, ResponseFuture};
pub use stats::{names, CacheStats};
pub use store::{
    CacheStore, Claim, Lease, Refused, RemoteStats, StoreError, StoreFuture, StoreStats,
};
pub use tiered::TieredStore;
