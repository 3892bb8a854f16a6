//! The layer: one policy and one retry budget for every service it builds.

use std::sync::Arc;

use tower::retry::budget::TpsBudget;
use tower::Layer;

use super::policy::RetryPolicy;
use super::service::{Retry, Shared};

/// Applies a [`RetryPolicy`]; see the module documentation. Clones share
/// one retry budget.
#[derive(Clone)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

impl RetryLayer {
    /// A layer with this policy.
    pub fn new(policy: RetryPolicy) -> Self {
        let budget = TpsBudget::new(
            policy.budget_window,
            policy.budget_min_per_second,
            policy.budget_ratio,
        );
        RetryLayer {
            shared: Arc::new(Shared {
                policy,
                budget,
                attempts: Default::default(),
            }),
        }
    }

    /// The policy applied.
    pub fn policy(&self) -> &RetryPolicy {
        &self.shared.policy
    }
}

impl Default for RetryLayer {
    fn default() -> Self {
        RetryLayer::new(RetryPolicy::default())
    }
}

impl std::fmt::Debug for RetryLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner,
            shared: self.shared.clone(),
        }
    }
}
