//! Writes still running in the background (a store that does not answer at
//! once, like the disk store), so that a shutdown can wait for them.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Counts background writes and wakes whoever waits for none.
#[derive(Debug, Default)]
pub(crate) struct PendingWrites {
    count: AtomicUsize,
    idle: Notify,
}

/// One write in progress; dropping it ends the write.
pub(crate) struct WriteGuard(Arc<PendingWrites>);

impl PendingWrites {
    /// A write begins.
    pub fn begin(self: &Arc<Self>) -> WriteGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        WriteGuard(self.clone())
    }

    /// Resolves once no write is in progress.
    pub async fn idle(&self) {
        loop {
            let mut notified = pin!(self.idle.notified());
            // Registered before the check, so a write ending in between is seen.
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
