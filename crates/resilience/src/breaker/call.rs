//! One call through a breaker: its verdict is recorded exactly once, when
//! the answer's body ends, fails, or is dropped (a cancellation, which
//! says nothing about the upstream).

use std::sync::Arc;
use std::time::Instant;

use llm_layers_core::error::{find_upstream_error, InspectError};
use llm_layers_core::UpstreamError;

use super::registry::{BreakerKey, Registry};
use super::state::Outcome;

/// A call admitted by a breaker, until its outcome is known.
pub(crate) struct CallGuard {
    registry: Arc<Registry>,
    key: BreakerKey,
    probe: bool,
    done: bool,
}

impl CallGuard {
    pub fn new(registry: Arc<Registry>, key: BreakerKey, probe: bool) -> CallGuard {
        CallGuard {
            registry,
            key,
            probe,
            done: false,
        }
    }

    /// Records how the call ended.
    pub fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: Outcome) {
        if !std::mem::replace(&mut self.done, true) {
            self.registry
                .record(&self.key, outcome, self.probe, Instant::now());
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.record(Outcome::Cancelled);
    }
}

/// A failure returned instead of an answer: the upstream's fault (a
/// connection failure, a timeout) unless the request itself was invalid.
pub(crate) fn error_outcome<E: InspectError>(error: &E) -> Outcome {
    let invalid = error
        .as_std_error()
        .and_then(find_upstream_error)
        .is_some_and(|upstream| matches!(upstream, UpstreamError::InvalidRequest(_)));
    match invalid {
        true => Outcome::Success,
        false => Outcome::Failure,
    }
}

/// An answer's status: 5xx (529 included) is the upstream's failure.
pub(crate) fn status_fails(status: http::StatusCode) -> bool {
    status.is_server_error() || status.as_u16() == 529
}
