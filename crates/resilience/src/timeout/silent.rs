//! Whether a timed-out body had sent nothing of its own: a stream whose
//! upstream went silent before its first byte ends with the timeout's
//! error event, which a retry layer above may treat as no answer at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// In the extensions of an answer through [`super::UpstreamTimeout`]: set
/// when a timeout ended its body before the upstream sent a byte of it.
#[derive(Clone, Debug, Default)]
pub struct SilentUpstream(Arc<AtomicBool>);

impl SilentUpstream {
    /// Whether the body timed out before the upstream's first byte.
    pub fn happened(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }
}
