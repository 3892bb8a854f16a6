//! Batching: fewer upstream requests for the same work.
//!
//! [`EmbeddingsBatchLayer`] coalesces concurrent `/v1/embeddings` requests
//! for the same target, credential partition, model and parameters
//! (`dimensions`, `encoding_format`, `user`, anything but `input`) that
//! arrive within a short window (2 ms by default, at most 2,048 inputs and
//! 4 MiB of input per batch) into one upstream request with an array
//! `input`.
//!
//! - **Each caller gets what it would have got alone**: its own vectors,
//!   in its order, with its own `index` values; its share of `usage` (the
//!   upstream's figures apportioned by each caller's estimated input
//!   tokens, token arrays counted exactly, the shares adding up to the
//!   upstream's total); the upstream's status and headers, plus
//!   `x-llm-batch-size`. `encoding_format: base64` works (vectors are
//!   passed through as they come).
//! - **Inputs**: a string, strings, a token array or token arrays; text
//!   and token inputs never share a request.
//! - **Failure**: a batch answered with an error (or an answer that does
//!   not fit its inputs) is retried member by member, once: one caller's
//!   bad input fails only that caller.
//! - **Alone**: a request with nobody to share with, or that is not
//!   embeddings, is sent exactly as it came.
//! - The batch is sent with the first caller's headers, which the others
//!   share in what matters: the credential partition is part of the group.
//!
//! [`filler::BatchFiller`] runs the OpenAI Batch API as a cache filler: a
//! list of requests goes as one batch job (half price), and each answer is
//! stored under the key the same request would have had if sent directly.
//!
//! Put it below the response cache (cached requests never wait for a
//! batch) and above retries (a batch is retried as one request).
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_batch::{BatchConfig, EmbeddingsBatchLayer};
//! use llm_layers_mock::{MockConfig, MockServer};
//! use tower::{Layer, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default()).await.unwrap();
//! let layer = EmbeddingsBatchLayer::new(BatchConfig::default());
//! let client = layer.layer(llm_layers_connector::HyperConnector::builder().build().unwrap());
//! let ask = |text: &str| {
//!     let body = format!(r#"{{"model":"text-embedding-3-small","input":"{text}"}}"#);
//!     let request = http::Request::post(format!("{}/v1/embeddings", mock.base_url()))
//!         .header("authorization", "Bearer sk-demo")
//!         .body(Full::new(Bytes::from(body)))
//!         .unwrap();
//!     client.clone().oneshot(request)
//! };
//! let (a, b) = tokio::join!(ask("first"), ask("second"));
//! assert_eq!(a.unwrap().headers()["x-llm-batch-size"], "2");
//! assert!(b.unwrap().into_body().collect().await.is_ok());
//! assert_eq!(mock.stats().requests_total, 1);
//! # });
//! ```
#![warn(missing_docs)]

mod batcher;
mod config;
pub mod filler;
mod layer;
mod member;
mod service;
mod split;
mod stats;

pub use batcher::BATCH_SIZE_HEADER;
pub use config::BatchConfig;
pub use layer::EmbeddingsBatchLayer;
pub use service::{EmbeddingsBatch, ResponseBody, ResponseFuture};
pub use stats::{names, BatchStats};

/// The parsers, for the fuzz targets (not a stable interface).
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::filler::output_answers;
    pub use crate::split::{split, Share};
}
