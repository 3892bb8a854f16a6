//! The timer behind a connection's head timeout (hyper's
//! `header_read_timeout`), with one timer registration per connection
//! instead of one per request.
//!
//! hyper asks its timer for a new sleep each time it waits for a request's
//! head and drops it once the head is in. With tokio's own timer that is,
//! per request, an allocation, an insertion into the runtime's timer wheel
//! and a removal from it, each under the wheel's lock, which both workers
//! share. Here a connection keeps one tokio [`Sleep`](tokio::time::Sleep):
//! a dropped head sleep gives it back, and the next one moves its deadline.
//! A deadline moved later (the usual case: the next head's deadline is
//! after the last one's) is a compare-and-swap on the registered entry, no
//! lock; the wheel catches up when the old deadline comes round, once per
//! timeout period at most. A deadline moved earlier registers anew, as
//! tokio does for any sleep.

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
        let sleep = match spare {
            Some(mut sleep) => {
                sleep.as_mut().reset(deadline.into());
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(deadline.into())),
        };
        HeadSleep {
            sleep: Some(sleep),
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

/// A head sleep: the connection's tokio sleep, given back when dropped.
struct HeadSleep {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    spare: Arc<Spare>,
}

impl HeadSleep {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        if let Some(sleep) = self.get_mut().sleep.as_mut() {
            sleep.as_mut().reset(deadline.into());
        }
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut().sleep.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Ready(()),
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
