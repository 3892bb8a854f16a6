//! The timeouts and the layer that applies them.

use std::time::Duration;

use tower::Layer;

use super::service::UpstreamTimeout;

/// How long a call may take, phase by phase; `None` turns a timeout off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamTimeouts {
    /// From sending the request to the response head. Default 60 s.
    pub first_byte: Option<Duration>,
    /// Between two body chunks. Default 60 s.
    pub stream_idle: Option<Duration>,
    /// The whole call, head and body. Default 10 minutes.
    pub total: Option<Duration>,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        UpstreamTimeouts {
            first_byte: Some(Duration::from_secs(60)),
            stream_idle: Some(Duration::from_secs(60)),
            total: Some(Duration::from_secs(600)),
        }
    }
}

impl UpstreamTimeouts {
    /// No timeout at all.
    pub fn none() -> Self {
        UpstreamTimeouts {
            first_byte: None,
            stream_idle: None,
            total: None,
        }
    }

    /// Sets the time to the response head.
    pub fn first_byte(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.first_byte = limit.into();
        self
    }

    /// Sets the idle time allowed between body chunks.
    pub fn stream_idle(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.stream_idle = limit.into();
        self
    }

    /// Sets the total duration of a call.
    pub fn total(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.total = limit.into();
        self
    }
}

/// Applies [`UpstreamTimeouts`] to every call; see the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct UpstreamTimeoutLayer {
    timeouts: UpstreamTimeouts,
}

impl UpstreamTimeoutLayer {
    /// A layer with these timeouts.
    pub fn new(timeouts: UpstreamTimeouts) -> Self {
        UpstreamTimeoutLayer { timeouts }
    }

    /// The timeouts applied.
    pub fn timeouts(&self) -> UpstreamTimeouts {
        self.timeouts
    }
}

impl<S> Layer<S> for UpstreamTimeoutLayer {
    type Service = UpstreamTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UpstreamTimeout::new(inner, self.timeouts)
    }
}
