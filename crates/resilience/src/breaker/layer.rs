//! The layer: one set of breakers for every service it builds.

use std::sync::Arc;
use std::time::Instant;

use tower::Layer;

use super::policy::BreakerPolicy;
use super::registry::{BreakerSnapshot, Registry};
use super::service::CircuitBreaker;

/// Applies a [`BreakerPolicy`]; see the module documentation. Clones share
/// their breakers.
#[derive(Clone)]
pub struct CircuitBreakerLayer {
    registry: Arc<Registry>,
}

impl CircuitBreakerLayer {
    /// A layer with this policy.
    pub fn new(policy: BreakerPolicy) -> Self {
        CircuitBreakerLayer {
            registry: Arc::new(Registry::new(policy)),
        }
    }

    /// The policy applied.
    pub fn policy(&self) -> &BreakerPolicy {
        &self.registry.policy
    }

    /// Every breaker's state and window, sorted by origin and model.
    pub fn snapshot(&self) -> Vec<BreakerSnapshot> {
        self.registry.snapshot(Instant::now())
    }
}

impl Default for CircuitBreakerLayer {
    fn default() -> Self {
        CircuitBreakerLayer::new(BreakerPolicy::default())
    }
}

impl std::fmt::Debug for CircuitBreakerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("policy", &self.registry.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker {
            inner,
            registry: self.registry.clone(),
        }
    }
}
