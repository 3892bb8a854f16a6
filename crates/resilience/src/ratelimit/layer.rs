//! The layer: one memory of spent quotas for every service it builds.

use std::sync::Arc;

use tower::Layer;

use super::policy::RateLimitPolicy;
use super::registry::Registry;
use super::service::{RateLimit, Shared};

/// Applies a [`RateLimitPolicy`]; see the module documentation. Clones
/// share what they learned.
#[derive(Clone)]
pub struct RateLimitLayer {
    shared: Arc<Shared>,
}

impl RateLimitLayer {
    /// A layer with this policy.
    pub fn new(policy: RateLimitPolicy) -> Self {
        RateLimitLayer {
            shared: Arc::new(Shared {
                policy,
                registry: Registry::new(),
            }),
        }
    }

    /// The policy applied.
    pub fn policy(&self) -> &RateLimitPolicy {
        &self.shared.policy
    }
}

impl Default for RateLimitLayer {
    fn default() -> Self {
        RateLimitLayer::new(RateLimitPolicy::default())
    }
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            shared: self.shared.clone(),
        }
    }
}
