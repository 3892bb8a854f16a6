//! A real HTTP double of LLM provider APIs, for tests, benchmarks and demos.
//!
//! [`MockServer`] listens on 127.0.0.1 (HTTP/1.1 and HTTP/2, optionally TLS
//! with a self-signed certificate made at start) and answers:
//!
//! | path | API |
//! |---|---|
//! | `POST /v1/chat/completions` | OpenAI chat, plain and streamed (`stream_options.include_usage`) |
//! | `POST /v1/completions` | OpenAI legacy completions |
//! | `POST /v1/responses` | OpenAI responses, plain and streamed |
//! | `POST /v1/embeddings` | OpenAI embeddings |
//! | `POST /v1/messages` | Anthropic messages, plain and streamed |
//! | `POST /v1beta/models/{model}:generateContent` | Gemini, plain |
//! | `POST /v1beta/models/{model}:streamGenerateContent` | Gemini, streamed: a JSON array, or SSE with `alt=sse` |
//! | the same under `/openai`, `/anthropic` or `/gemini` | as a gateway serving several providers would |
//! | `POST /openai/deployments/{d}/chat/completions` (and the other OpenAI APIs) | as Azure OpenAI: the deployment is the model |
//! | `POST /v1/files`, `GET /v1/files/{id}/content` | OpenAI files (multipart upload, `purpose=batch`) |
//! | `POST /v1/batches`, `GET /v1/batches/{id}` | OpenAI Batch API: jobs complete after `batch_delay`, answered by the handlers above |
//! | `GET /__mock/stats` | counters as JSON: `requests` per path, `connections`, … |
//! | `GET /__mock/requests` | the most recent requests, bodies included |
//! | `POST /__mock/reset` | zeroes the counters, empties the prompt caches, forgets fault schedules |
//!
//! Answers are deterministic: the same model and prompt give byte-identical
//! bodies (ids and timestamps included); only prompt-cache usage figures
//! change from one call to the next. Provider prompt caching is emulated
//! (see [`prompt_cache`] for the rules and [`render`] for how a prompt is
//! rendered and counted). Faults are injected per request with the
//! `x-mock-fault` header or for every request with [`MockConfig::fault`]
//! (see [`Fault`]); `x-mock-fault-times: N` limits a request's fault to
//! the first N requests with the same body (or `x-mock-fault-key`), and
//! `x-mock-latency-ms` overrides the time to first byte.
//!
//! ```
//! use llm_layers_mock::{MockConfig, MockServer};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let server = MockServer::start(MockConfig::default()).await.unwrap();
//! assert!(server.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.stats().requests_total, 0);
//! # });
//! ```
#![warn(missing_docs)]

mod answer;
mod anthropic;
mod batch_api;
mod body;
mod config;
mod fault;
mod gemini;
mod handler;
mod openai;
pub mod prompt_cache;
pub mod raw;
pub mod render;
mod reply;
mod server;
mod stats;
pub mod testing;
mod tls;
pub mod workload;

pub use body::{MockBody, StreamCut};
pub use config::MockConfig;
pub use fault::{Fault, UnknownFault, FAULT_HEADER, LATENCY_HEADER, RETRY_AFTER_HEADER};
pub use server::{MockServer, StartError};
pub use stats::{MockStats, RecordedRequest};
pub use tls::TlsError;
