//! Upstream timeouts: time to the response head, idle time between body
//! chunks, and the call's total duration.
//!
//! [`UpstreamTimeoutLayer`] goes at the bottom of the stack, just above the
//! connector. What a timeout looks like to the caller depends on when it
//! strikes:
//!
//! - **before the response head** (`first_byte`, or `total`): a `504` with
//!   a JSON error in the provider's shape (`timeout_error`), which SDKs
//!   raise as their usual API error;
//! - **during a stream** (`stream_idle`, or `total`): an SSE error event in
//!   the provider's shape, then the end of the body: SDKs raise it, and no
//!   cache stores the stream (it has no end marker, and it failed);
//! - **during a plain body**: the body fails.
//!
//! Every timeout answer carries a [`TimedOut`] extension (head) or error
//! (body) naming its [`TimeoutPhase`]. tower's own `Timeout` fails the
//! call with an `Elapsed` error and tower-http's body timeout fails the
//! body: neither can end a stream the way SDKs expect, hence this layer.
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_resilience::{UpstreamTimeoutLayer, UpstreamTimeouts};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // An upstream that never answers.
//! let stalled = tower::service_fn(|_request: http::Request<Full<Bytes>>| async {
//!     std::future::pending::<Result<http::Response<Full<Bytes>>, std::convert::Infallible>>().await
//! });
//! let client = ServiceBuilder::new()
//!     .layer(UpstreamTimeoutLayer::new(
//!         UpstreamTimeouts::default().first_byte(Duration::from_millis(50)),
//!     ))
//!     .service(stalled);
//! let request = http::Request::post("https://api.anthropic.com/v1/messages")
//!     .body(Full::new(Bytes::from_static(b"{}")))
//!     .unwrap();
//! let response = client.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 504);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(error["error"]["type"], "timeout_error"); // Anthropic's shape
//! # });
//! ```

mod body;
mod layer;
mod service;
mod silent;

pub use body::TimeoutBody;
pub use layer::{UpstreamTimeoutLayer, UpstreamTimeouts};
pub use service::{ResponseFuture, UpstreamTimeout};
pub use silent::SilentUpstream;

/// Which timeout struck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// No response head within `first_byte`.
    FirstByte,
    /// No body chunk within `stream_idle`.
    StreamIdle,
    /// The whole call took longer than `total`.
    Total,
}

impl TimeoutPhase {
    /// A short, stable name for labels and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutPhase::FirstByte => "first_byte",
            TimeoutPhase::StreamIdle => "stream_idle",
            TimeoutPhase::Total => "total",
        }
    }
}

/// A timeout struck: the extension of a `504` answer, or the error of a
/// plain body cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("upstream timeout ({}) after {after:?}", phase.as_str())]
pub struct TimedOut {
    /// Which timeout.
    pub phase: TimeoutPhase,
    /// The limit that was reached.
    pub after: std::time::Duration,
}

impl TimedOut {
    fn message(&self) -> String {
        format!(
            "the upstream did not answer in time ({} timeout, {:?})",
            self.phase.as_str(),
            self.after
        )
    }
}

/// The provider's error type for a timeout.
const ERROR_TYPE: &str = "timeout_error";
