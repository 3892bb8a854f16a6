//! `HyperConnector`: the pooled client at the bottom of an llm-layers stack.
//!
//! A `tower::Service<http::Request<B>>` over a pool of hyper connections
//! with rustls (ring provider, no C toolchain needed):
//!
//! - a pool per host (see the `pool` module's rules): N concurrent callers
//!   open at most N HTTP/1.1 connections, HTTP/2 requests share a
//!   connection up to the server's stream limit and then open another; an
//!   idle timeout (default 300 s), TCP_NODELAY, TCP keep-alive,
//!   a connect timeout (default 10 s, also bounding the TLS handshake) and
//!   happy eyeballs;
//! - HTTP/1.1 and HTTP/2 by ALPN, HTTP/2 keep-alive pings and adaptive
//!   window, or HTTP/2 only;
//! - webpki roots by default, native roots as an option, extra roots for
//!   self-hosted gateways and tests;
//! - an optional cap on requests in flight (tower's `ConcurrencyLimit`);
//! - typed errors ([`ConnectorError`]) the metrics and resilience layers
//!   classify without string matching.
//!
//! Every response carries a [`ConnectionUse`] extension: which connection it
//! came over and whether that connection was new or reused. [`HyperConnector::stats`]
//! returns a [`PoolSnapshot`] (opened, reused, reuse ratio, handshake
//! medians, per host), and the same figures go through the `metrics` facade
//! (see [`names`]).
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_connector::{ConnectionUse, HyperConnector};
//! use llm_layers_mock::{MockConfig, MockServer};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default().tls(true)).await.unwrap();
//! let connector = HyperConnector::builder()
//!     .add_root_certificate(mock.certificate_der().unwrap().clone())
//!     .build::<Full<Bytes>>()
//!     .unwrap();
//! for _ in 0..3 {
//!     let request = http::Request::post(format!("{}/v1/embeddings", mock.base_url()))
//!         .body(Full::new(Bytes::from_static(br#"{"model":"e","input":"hi"}"#)))
//!         .unwrap();
//!     let response = connector.clone().oneshot(request).await.unwrap();
//!     assert!(response.extensions().get::<ConnectionUse>().is_some());
//!     response.into_body().collect().await.unwrap();
//! }
//! let stats = connector.stats();
//! assert_eq!((stats.opened, stats.requests, stats.reused), (1, 3, 2));
//! # });
//! ```
#![warn(missing_docs)]

mod body;
mod builder;
mod connect;
mod error;
pub mod h2_settings;
mod pool;
mod service;
mod stats;

pub use body::UpstreamBody;
pub use builder::{BuildError, HyperConnectorBuilder, Roots};
pub use error::{BoxError, ConnectorError, UpstreamError};
pub use service::{HyperConnector, RequestBody, ResponseFuture};
pub use stats::{names, ConnectionUse, HostSnapshot, PoolSnapshot};
