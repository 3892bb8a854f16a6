//! What a connection has in flight, so that an idle one can be closed: a
//! request is in flight from its call until its answer's body is done or
//! dropped. The server can also ask a connection to close (to make room
//! for a new one past the connection limit).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

/// One connection's requests in flight, and when the last one ended.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    last_ended: Mutex<Instant>,
    close_asked: AtomicBool,
    close: Notify,
}

impl Activity {
    pub fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            last_ended: Mutex::new(Instant::now()),
            close_asked: AtomicBool::new(false),
            close: Notify::new(),
        }
    }

    /// Since when nothing has been in flight; `None` while a request is,
    /// or once the connection was asked to close.
    pub fn idle_since(&self) -> Option<Instant> {
        let idle = self.in_flight.load(Ordering::Acquire) == 0
            && !self.close_asked.load(Ordering::Acquire);
        idle.then(|| self.last_ended())
    }

    /// Asks the connection's watcher to close it (after what is in flight).
    pub fn ask_to_close(&self) {
        self.close_asked.store(true, Ordering::Release);
        self.close.notify_one();
    }

    /// Resolves once [`Activity::ask_to_close`] was called.
    pub async fn until_asked_to_close(&self) {
        self.close.notified().await
    }

    /// A request begins; it ends when the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn last_ended(&self) -> Instant {
        *self
            .last_ended
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether nothing has been in flight for `keep_alive`.
    pub fn is_idle_for(&self, keep_alive: Duration) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && self.last_ended().elapsed() >= keep_alive
    }

    /// When to look again: `keep_alive` after the last request ended (or
    /// from now, while one is in flight).
    pub fn idle_deadline(&self, keep_alive: Duration) -> Instant {
        match self.in_flight.load(Ordering::Acquire) {
            0 => self.last_ended() + keep_alive,
            _ => Instant::now() + keep_alive,
        }
    }
}

/// A request in flight.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .0
            .last_ended
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// An answer's body, holding its request in flight until it ends.
    pub struct Tracked<B> {
        #[pin]
        body: B,
        in_flight: Option<InFlight>,
    }
}

impl<B> Tracked<B> {
    pub(crate) fn new(body: B, in_flight: InFlight) -> Tracked<B> {
        Tracked {
            body,
            in_flight: Some(in_flight),
        }
    }
}

impl<B: Body> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.in_flight.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
