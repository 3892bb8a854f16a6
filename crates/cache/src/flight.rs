//! Single flight: concurrent identical misses make one upstream call.
//!
//! The first miss for a key starts a flight: the upstream call belongs to
//! the flight (see [`crate::drive`]), not to the first caller's future,
//! so no caller's going away ends it. Every request for the key,
//! the first included, reads the flight: it waits for the head, then reads
//! the chunks from the first one on, live, as they arrive. If the answer
//! cannot be shared (an error status, `no-store`) or the call fails before
//! its head, the first caller gets it and every other makes its own call.
//! If the body fails after readers began, their bodies fail too; if it
//! ends cleanly, they end cleanly, whole or not (only whole answers are
//! stored). Different keys never wait on each other.
//!
//! Memory stays bounded: while the answer may still be stored, the flight
//! keeps its chunks (at most an entry's size) for readers that join late;
//! once it cannot be (too large), no one else joins, chunks every reader
//! has read are let go, and the call waits for the slowest reader rather
//! than buffer more than an entry's size ahead of it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body::{Body, Frame, SizeHint};
use llm_layers_core::hash_map::HashMap;
use llm_layers_core::CanonicalKey;

use crate::drive::Driving;

/// The shared upstream answer failed after this reader began reading it.
#[derive(Debug, thiserror::Error)]
#[error("the shared upstream answer failed mid-way")]
pub struct LeaderFailed;

/// The head readers answer with.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug, Default)]
struct State {
    head: Option<Head>,
    /// Chunks from number `first` on.
    chunks: VecDeque<Bytes>,
    first: usize,
    /// Bytes in `chunks`.
    buffered: usize,
    /// `Some(true)`: ended cleanly; `Some(false)`: failed or abandoned.
    ended: Option<bool>,
    /// No one joins any more, and read chunks are let go.
    closed: bool,
    /// Each reader's next chunk number; `None` for a reader gone.
    cursors: Vec<Option<usize>>,
    readers: usize,
    wakers: Vec<Waker>,
    /// The task driving the upstream body, waiting for readers.
    driver: Option<Waker>,
    /// The call, while the leader polls it as the only reader.
    inline: Option<Driving>,
}

impl State {
    /// Lets go of the chunks every reader has read (once closed).
    fn trim(&mut self) {
        if !self.closed {
            return;
        }
        let slowest = self.cursors.iter().flatten().min().copied();
        let upto = slowest.unwrap_or(self.first + self.chunks.len());
        while self.first < upto {
            let Some(chunk) = self.chunks.pop_front() else {
                break;
            };
            self.buffered -= chunk.len();
            self.first += 1;
        }
    }

    fn wake_driver(&mut self) {
        if let Some(driver) = self.driver.take() {
            driver.wake();
        }
    }
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
    /// Start the upstream call and publish through this handle.
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

    /// No new request may join this flight from now on.
    fn close_to_joiners(&self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.forget(self);
        }
    }

    fn end(&self, ok: bool) {
        self.close_to_joiners();
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

    /// The leader's reader polls the call while it reads alone; with
    /// another reader already there, the call goes to a task at once.
    pub(crate) fn keep_inline(&self, driving: Driving) {
        let mut state = lock(&self.state);
        if state.readers > 1 {
            drop(state);
            drop(driving);
            return;
        }
        state.inline = Some(driving);
    }

    /// Polls the call kept inline, if any, and puts it back unless it
    /// ended or another reader has joined meanwhile (then it is spawned).
    fn poll_inline(&self, cx: &mut Context<'_>) {
        let Some(mut driving) = lock(&self.state).inline.take() else {
            return;
        };
        if driving.poll(cx).is_ready() {
            return;
        }
        let mut state = lock(&self.state);
        if state.readers <= 1 {
            state.inline = Some(driving);
            return;
        }
        drop(state);
        drop(driving);
    }

    /// Ready when the driver may read on: it has readers, or `storable`,
    /// and (once closed) the slowest reader is less than `window` bytes
    /// behind. `Ready(false)`: nobody reads and the answer cannot be
    /// stored, so the call is abandoned. Either way the driver is woken
    /// when a reader reads on or goes.
    pub fn poll_may_read(&self, cx: &mut Context<'_>, storable: bool, window: usize) -> Poll<bool> {
        let mut state = lock(&self.state);
        if state.readers == 0 && !storable {
            return Poll::Ready(false);
        }
        state.driver = Some(cx.waker().clone());
        if state.closed && state.buffered > window {
            return Poll::Pending;
        }
        Poll::Ready(true)
    }
}

/// The leader's side. Dropped without [`LeaderHandle::publish_head`], it
/// releases the followers to make their own calls.
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
/// [`Publisher::finish`], it fails the readers.
#[derive(Debug)]
pub(crate) struct Publisher {
    flight: Option<Arc<Flight>>,
}

impl Publisher {
    /// The flight published to.
    pub fn flight(&self) -> Option<&Arc<Flight>> {
        self.flight.as_ref()
    }

    pub fn chunk(&self, bytes: &Bytes) {
        if let Some(flight) = &self.flight {
            flight.update(|state| {
                state.buffered += bytes.len();
                state.chunks.push_back(bytes.clone());
                state.trim();
            });
        }
    }

    /// The answer will not be stored: no one joins any more, and chunks
    /// are let go once read.
    pub fn close(&self) {
        if let Some(flight) = &self.flight {
            flight.close_to_joiners();
            flight.update(|state| {
                state.closed = true;
                state.trim();
            });
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

/// A reader's body: the flight's chunks, from the first, as they arrive.
#[derive(Debug)]
pub(crate) struct FollowerBody {
    flight: Arc<Flight>,
    id: usize,
    next: usize,
    finished: bool,
    /// The leader's reader, which may poll the call itself.
    leads: bool,
    /// Bytes of the answer's declared length not handed over yet.
    remaining: Option<u64>,
}

impl FollowerBody {
    /// A new reader of `flight`, from its first chunk. A call its leader
    /// was polling alone goes to a task of its own: the leader may read
    /// slowly, or not at all, and this reader must not wait for it.
    pub(crate) fn new(flight: Arc<Flight>) -> FollowerBody {
        let (id, handed_off) = {
            let mut state = lock(&flight.state);
            state.readers += 1;
            state.cursors.push(Some(0));
            (state.cursors.len() - 1, state.inline.take())
        };
        drop(handed_off);
        FollowerBody {
            flight,
            id,
            next: 0,
            finished: false,
            leads: false,
            remaining: None,
        }
    }

    /// The answer declares this length (the leader's head does): while it
    /// may be stored, its last bytes are handed over once the flight has
    /// ended, with the end. The
    /// end comes after what the flight does with a whole answer (its usage
    /// published for the layers outside, the entry stored), and a server
    /// given the length stops reading at the last byte.
    pub(crate) fn expect_length(&mut self, length: Option<u64>) {
        self.remaining = length;
    }

    /// This is the leader's reader: it polls `driving` while it reads alone.
    pub(crate) fn lead(&mut self, driving: Driving) {
        self.leads = true;
        self.flight.keep_inline(driving);
    }

    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, LeaderFailed>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if self.leads {
            self.flight.poll_inline(cx);
        }
        let mut state = lock(&self.flight.state);
        if let Some(chunk) = self
            .next
            .checked_sub(state.first)
            .and_then(|at| state.chunks.get(at))
            .cloned()
        {
            // Only while the answer may be stored: a closed flight's driver
            // waits for its readers to catch up, this one included.
            let last_declared = self.remaining == Some(chunk.len() as u64);
            if last_declared && state.ended.is_none() && !state.closed {
                state.wakers.push(cx.waker().clone());
                return Poll::Pending;
            }
            if let Some(remaining) = &mut self.remaining {
                *remaining = remaining.saturating_sub(chunk.len() as u64);
            }
            self.next += 1;
            state.cursors[self.id] = Some(self.next);
            // The last chunk of an answer that ended cleanly: the end is
            // known with it. Callers such as hyper, given a length, stop
            // polling at its last byte, and must not take that for a
            // reader going away.
            if state.ended == Some(true) && self.next - state.first == state.chunks.len() {
                self.finished = true;
            }
            if state.closed {
                state.trim();
                state.wake_driver();
            }
            return Poll::Ready(Some(Ok(chunk)));
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

impl Drop for FollowerBody {
    /// A leader going away hands the call it polled to a task of its own.
    fn drop(&mut self) {
        let handed_off = {
            let mut state = lock(&self.flight.state);
            state.readers -= 1;
            state.cursors[self.id] = None;
            state.trim();
            state.wake_driver();
            state.inline.take()
        };
        drop(handed_off);
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

#[cfg(test)]
mod tests;
