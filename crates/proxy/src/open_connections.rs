//! The open connections, so that one idle the longest can be closed when a
//! new connection waits past the connection limit (as nginx reuses its
//! idle keep-alive connections): clients whose pools keep idle connections
//! open would otherwise hold every place until the keep-alive timeout,
//! while the proxy sits idle and a new client waits.
//!
//! Only a connection idle for [`IDLE_ENOUGH_TO_CLOSE`] is closed: closing
//! an HTTP/1.1 connection races with its client sending the next request
//! on it (which then fails), and a connection its client has left alone
//! for a second is unlikely to be the one it reuses this instant. Only the
//! acceptor, and only while a new connection waits, looks at the list; a
//! request costs nothing here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::activity::Activity;

/// How long a connection must have had nothing in flight to be closed for
/// a new one.
pub(crate) const IDLE_ENOUGH_TO_CLOSE: Duration = Duration::from_secs(1);

/// Every open connection's activity.
#[derive(Default)]
pub(crate) struct OpenConnections {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl OpenConnections {
    /// Lists a connection until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, activity: Arc<Activity>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, activity);
        Registered {
            id,
            connections: self.clone(),
        }
    }

    /// Asks the connection idle the longest (nothing in flight for
    /// [`IDLE_ENOUGH_TO_CLOSE`] at least, not asked before) to close; false
    /// when there is none.
    pub fn close_longest_idle(&self) -> bool {
        let open = self.lock();
        let longest = open
            .values()
            .filter_map(|activity| Some((activity.idle_since()?, activity)))
            .filter(|(since, _)| since.elapsed() >= IDLE_ENOUGH_TO_CLOSE)
            .min_by_key(|(since, _)| *since);
        match longest {
            Some((_, activity)) => {
                activity.ask_to_close();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A listed connection; unlisted when dropped.
pub(crate) struct Registered {
    id: u64,
    connections: Arc<OpenConnections>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_connection_idle_the_longest_is_asked_first_and_busy_ones_never() {
        let connections = Arc::new(OpenConnections::default());
        let (oldest, newer, busy) = (
            Arc::new(Activity::new()),
            Arc::new(Activity::new()),
            Arc::new(Activity::new()),
        );
        let _listed = [&oldest, &newer, &busy].map(|a| connections.register(a.clone()));
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(newer.begin()); // a request just ended on `newer`
        let _in_flight = busy.begin();

        assert!(connections.close_longest_idle());
        assert_eq!(oldest.idle_since(), None, "the oldest idle one was asked");
        assert!(newer.idle_since().is_some(), "the newer one was left alone");
        assert!(
            !connections.close_longest_idle(),
            "one idle for less than a second is not asked"
        );
        tokio::time::advance(IDLE_ENOUGH_TO_CLOSE).await;
        assert!(connections.close_longest_idle());
        assert_eq!(newer.idle_since(), None);
        assert!(
            !connections.close_longest_idle(),
            "a busy one is never asked"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unlisted_connection_is_never_asked() {
        let connections = Arc::new(OpenConnections::default());
        let activity = Arc::new(Activity::new());
        drop(connections.register(activity.clone()));
        tokio::time::advance(IDLE_ENOUGH_TO_CLOSE).await;
        assert!(!connections.close_longest_idle());
        assert!(activity.idle_since().is_some());
    }
}
