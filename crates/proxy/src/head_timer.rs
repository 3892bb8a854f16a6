//! The timer behind a connection's head timeout (hyper's
//! `header_read_timeout`), with one timer registration per connection
//! instead of one per request.
//!
//! hyper asks its timer for a new sleep each time it waits for a request's
//! head and drops it once the head is in. With tokio's own timer that is,
//! per request, an allocation, an insertion into the runtime's timer wheel
//! and a removal from it, each under the wheel's lock, which both workers
//! share. Here a connection keeps one tokio [`Sleep`](tokio::time::Sleep):
//! a dropped head sleep gives it back, and the next one takes it over with
//! its own deadline. The tokio sleep is moved only when that deadline is
//! earlier than the one it is set to; for a later one (the usual case: the
//! next head's deadline is after the last one's) it is left as it is, and
//! when it fires before the head sleep's own deadline it is set to that
//! deadline then, once per timeout period at most.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

/// One connection's head timer (see the module documentation).
#[derive(Clone, Default)]
pub(crate) struct HeadTimer {
    spare: Arc<Spare>,
}

/// The connection's tokio sleep while no head sleep holds it.
type Spare = Mutex<Option<Pin<Box<tokio::time::Sleep>>>>;

impl HeadTimer {
    /// A tokio sleep until `deadline`: the connection's spare one, moved,
    /// or a new one when the spare is in use.
    fn sleep_at(&self, deadline: Instant) -> HeadSleep {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let deadline = tokio::time::Instant::from_std(deadline);
        let mut sleep = spare.unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
        if deadline < sleep.deadline() {
            sleep.as_mut().reset(deadline);
        }
        HeadSleep {
            sleep: Some(sleep),
            deadline,
            spare: self.spare.clone(),
        }
    }
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(self.sleep_at(self.now() + duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(self.sleep_at(deadline))
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HeadSleep>() {
            Some(head_sleep) => head_sleep.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A head sleep: its deadline, and the connection's tokio sleep (set to
/// that deadline or an earlier one), given back when dropped.
struct HeadSleep {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    deadline: tokio::time::Instant,
    spare: Arc<Spare>,
}

impl HeadSleep {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = tokio::time::Instant::from_std(deadline);
        if let Some(sleep) = this.sleep.as_mut() {
            if this.deadline < sleep.deadline() {
                sleep.as_mut().reset(this.deadline);
            }
        }
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(sleep) = this.sleep.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            std::task::ready!(sleep.as_mut().poll(cx));
            if sleep.deadline() >= this.deadline {
                return Poll::Ready(());
            }
            // Fired at an earlier head's deadline: on to this one's.
            sleep.as_mut().reset(this.deadline);
        }
    }
}

impl Sleep for HeadSleep {}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        let Some(sleep) = self.sleep.take() else {
            return;
        };
        let mut spare = self
            .spare
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if spare.is_none() {
            *spare = Some(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls once with a no-op waker.
    fn is_ready(sleep: &mut Pin<Box<dyn Sleep>>) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        sleep.as_mut().poll(&mut cx).is_ready()
    }

    #[tokio::test(start_paused = true)]
    async fn a_reused_sleep_keeps_the_new_deadline_earlier_or_later() {
        let timer = HeadTimer::default();
        let start = timer.now();
        // A long deadline, registered, then given back.
        let mut first = timer.sleep_until(start + Duration::from_secs(10));
        assert!(!is_ready(&mut first));
        drop(first);
        assert!(timer.spare.lock().unwrap().is_some(), "given back");
        // The next head's deadline is earlier: it must fire then, not at 10 s.
        let mut second = timer.sleep_until(start + Duration::from_millis(100));
        assert!(timer.spare.lock().unwrap().is_none(), "the spare was taken");
        assert!(!is_ready(&mut second));
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(!is_ready(&mut second));
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(is_ready(&mut second));
        drop(second);
        // And later again: not before its own deadline.
        let now = timer.now();
        let mut third = timer.sleep_until(now + Duration::from_secs(5));
        tokio::time::advance(Duration::from_millis(4_900)).await;
        assert!(!is_ready(&mut third));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(is_ready(&mut third));
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_is_not_cut_short_by_the_earlier_one_left_set() {
        let timer = HeadTimer::default();
        let start = timer.now();
        let mut first = timer.sleep_until(start + Duration::from_secs(1));
        assert!(!is_ready(&mut first));
        drop(first);
        // The tokio sleep stays set to 1 s; this head has until 2 s.
        let mut second = timer.sleep_until(start + Duration::from_secs(2));
        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert!(
            !is_ready(&mut second),
            "fired at the earlier head's deadline"
        );
        tokio::time::advance(Duration::from_millis(400)).await;
        assert!(!is_ready(&mut second));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(is_ready(&mut second));
    }

    #[tokio::test(start_paused = true)]
    async fn two_sleeps_at_once_each_keep_their_own_deadline() {
        let timer = HeadTimer::default();
        let now = timer.now();
        let mut late = timer.sleep_until(now + Duration::from_secs(2));
        let mut early = timer.sleep(Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert!(is_ready(&mut early));
        assert!(!is_ready(&mut late));
        // Moved through the timer, as hyper would.
        timer.reset(&mut late, now + Duration::from_secs(3));
        tokio::time::advance(Duration::from_millis(1_000)).await;
        assert!(!is_ready(&mut late));
        tokio::time::advance(Duration::from_millis(600)).await;
        assert!(is_ready(&mut late));
    }
}
