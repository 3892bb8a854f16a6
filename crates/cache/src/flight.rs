//! Single flight: concurrent identical misses make one upstream call.
//!
//! The first miss for a key leads: it calls the upstream and, if the answer
//! can be stored, publishes its head and every chunk as it arrives. Later
//! misses for the same key follow: they wait for the head, then read the
//! chunks from the first one on, live, as the leader receives them. If the
//! leader's answer cannot be shared (an error status, `no-store`) or the
//! leader goes away before its head, every follower makes its own upstream
//! call; if the leader's body fails after followers started reading, their
//! bodies fail too. Different keys never wait on each other.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body::{Body, Frame, SizeHint};
use llm_layers_core::CanonicalKey;

/// The leader's answer went away after followers began reading it.
#[derive(Debug, thiserror::Error)]
#[error("the shared upstream answer failed mid-way")]
pub struct LeaderFailed;

/// The head followers answer with.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug, Default)]
struct State {
    head: Option<Head>,
    chunks: Vec<Bytes>,
    /// `Some(true)`: ended normally; `Some(false)`: failed or abandoned.
    ended: Option<bool>,
    wakers: Vec<Waker>,
}

/// One upstream call shared by identical requests.
#[derive(Debug)]
pub(crate) struct Flight {
    key: CanonicalKey,
    registry: Weak<Flights>,
    state: Mutex<State>,
}

/// The flights in progress, by key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    by_key: Mutex<HashMap<CanonicalKey, Arc<Flight>>>,
}

/// Whether this request leads or follows.
pub(crate) enum Role {
    /// Call the upstream and publish through this handle.
    Leader(LeaderHandle),
    /// Wait on the leader's flight.
    Follower(Arc<Flight>),
}

impl Flights {
    /// Joins the flight for `key`, or starts one.
    pub fn join(self: &Arc<Self>, key: CanonicalKey) -> Role {
        let mut flights = lock(&self.by_key);
        if let Some(flight) = flights.get(&key) {
            return Role::Follower(flight.clone());
        }
        let flight = Arc::new(Flight {
            key,
            registry: Arc::downgrade(self),
            state: Mutex::new(State::default()),
        });
        flights.insert(key, flight.clone());
        Role::Leader(LeaderHandle {
            flight: Some(flight),
        })
    }

    fn forget(&self, flight: &Flight) {
        let mut flights = lock(&self.by_key);
        if flights
            .get(&flight.key)
            .is_some_and(|current| std::ptr::eq(current.as_ref(), flight))
        {
            flights.remove(&flight.key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Flight {
    fn update(&self, change: impl FnOnce(&mut State)) {
        let wakers = {
            let mut state = lock(&self.state);
            change(&mut state);
            std::mem::take(&mut state.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    fn end(&self, ok: bool) {
        // No new follower may join a flight that has ended.
        if let Some(registry) = self.registry.upgrade() {
            registry.forget(self);
        }
        self.update(|state| {
            if state.ended.is_none() {
                state.ended = Some(ok);
            }
        });
    }

    /// Waits for the leader's head: `Some` to follow, `None` to make one's
    /// own call.
    pub async fn head(self: &Arc<Self>) -> Option<Head> {
        std::future::poll_fn(|cx| {
            let mut state = lock(&self.state);
            if let Some(head) = &state.head {
                return Poll::Ready(Some(head.clone()));
            }
            if state.ended.is_some() {
                return Poll::Ready(None);
            }
            state.wakers.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// The leader's side. Dropped without [`LeaderHandle::publish_head`], or
/// published and then ended with a failure, it releases the followers.
pub(crate) struct LeaderHandle {
    flight: Option<Arc<Flight>>,
}

impl LeaderHandle {
    /// The answer can be shared: publish its head; chunks follow through
    /// the returned publisher.
    pub fn publish_head(mut self, head: Head) -> Publisher {
        let flight = self.flight.take().expect("a leader publishes once");
        flight.update(|state| state.head = Some(head));
        Publisher {
            flight: Some(flight),
        }
    }
}

impl Drop for LeaderHandle {
    fn drop(&mut self) {
        if let Some(flight) = self.flight.take() {
            flight.end(false);
        }
    }
}

/// Publishes the leader's chunks as they pass. Dropped before
/// [`Publisher::finish`], it fails the followers.
#[derive(Debug)]
pub(crate) struct Publisher {
    flight: Option<Arc<Flight>>,
}

impl Publisher {
    pub fn chunk(&self, bytes: &Bytes) {
        if let Some(flight) = &self.flight {
            flight.update(|state| state.chunks.push(bytes.clone()));
        }
    }

    pub fn finish(mut self, ok: bool) {
        if let Some(flight) = self.flight.take() {
            flight.end(ok);
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if let Some(flight) = self.flight.take() {
            flight.end(false);
        }
    }
}

/// A follower's body: the leader's chunks, from the first, as they arrive.
#[derive(Debug)]
pub struct FollowerBody {
    flight: Arc<Flight>,
    next: usize,
    finished: bool,
}

impl FollowerBody {
    pub(crate) fn new(flight: Arc<Flight>) -> FollowerBody {
        FollowerBody {
            flight,
            next: 0,
            finished: false,
        }
    }

    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, LeaderFailed>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let mut state = lock(&self.flight.state);
        if let Some(chunk) = state.chunks.get(self.next) {
            self.next += 1;
            return Poll::Ready(Some(Ok(chunk.clone())));
        }
        match state.ended {
            Some(true) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Some(false) => {
                self.finished = true;
                Poll::Ready(Some(Err(LeaderFailed)))
            }
            None => {
                state.wakers.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Body for FollowerBody {
    type Data = Bytes;
    type Error = LeaderFailed;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, LeaderFailed>>> {
        self.get_mut()
            .poll_chunk(cx)
            .map(|chunk| chunk.map(|result| result.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
