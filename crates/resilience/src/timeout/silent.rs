//! Whether the upstream went silent until a timeout ended its body: the
//! body then ends with the timeout's error event (data, and a clean end),
//! so layers above learn it here. A retry treats silence before the first
//! byte as no answer at all; a circuit breaker counts any as a failure.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const SILENT_MID_STREAM: u8 = 1;
const SILENT_BEFORE_FIRST_BYTE: u8 = 2;

/// In the extensions of an answer through [`super::UpstreamTimeout`]: set
/// when a timeout ended its body.
#[derive(Clone, Debug, Default)]
pub struct SilentUpstream(Arc<AtomicU8>);

impl SilentUpstream {
    /// Whether a timeout ended the body before the upstream's first byte.
    pub fn before_first_byte(&self) -> bool {
        self.0.load(Ordering::Acquire) == SILENT_BEFORE_FIRST_BYTE
    }

    /// Whether a timeout ended the body at all.
    pub fn timed_out(&self) -> bool {
        self.0.load(Ordering::Acquire) != 0
    }

    pub(crate) fn mark(&self, before_first_byte: bool) {
        let state = match before_first_byte {
            true => SILENT_BEFORE_FIRST_BYTE,
            false => SILENT_MID_STREAM,
        };
        self.0.store(state, Ordering::Release);
    }
}
