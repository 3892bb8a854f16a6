//! A flight's upstream call: it belongs to the flight, not to the caller
//! that started it, so it goes on while anyone reads it or while its
//! answer can still be stored, and is abandoned (the upstream connection
//! dropped) only when neither holds.
//!
//! While its leader is its only reader, the leader's own task polls it
//! ([`Driving`]): no task is spawned and no worker thread woken for a
//! lone miss. It moves to a task of its own when another reader joins or
//! the leader goes.

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body::Body;
use llm_layers_core::body::{BodyEnd, BodyObserver};
use llm_layers_core::completeness::declared_length;
use llm_layers_core::{CanonicalKey, RequestFacts};
use tokio::sync::oneshot;

use std::sync::Arc;

use llm_layers_core::provider_error::MadeByLayer;
use llm_layers_core::usage::ResponseUsage;

use crate::flight::{Flight, FollowerBody, Head, LeaderHandle};
use crate::headers::passed_on;
use crate::plan::{after_answer, AfterAnswer};
use crate::recorder::Recorder;
use crate::service::{Led, Shared};
use crate::store::Claim;

/// A flight's call, polled by its leader until it is handed to a task of
/// its own, which happens when it is dropped unfinished.
pub(crate) struct Driving {
    call: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    runtime: tokio::runtime::Handle,
}

impl Driving {
    /// `call` (a [`drive`]), to be spawned on `runtime` if it is let go
    /// before its end.
    pub(crate) fn new(
        call: impl Future<Output = ()> + Send + 'static,
        runtime: tokio::runtime::Handle,
    ) -> Driving {
        Driving {
            call: Some(Box::pin(call)),
            runtime,
        }
    }

    /// Moves the call on; `Ready` once it has ended.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(call) = &mut self.call else {
            return Poll::Ready(());
        };
        let polled = call.as_mut().poll(cx);
        if polled.is_ready() {
            self.call = None;
        }
        polled
    }
}

impl Drop for Driving {
    /// An unfinished call goes on, on a task of its own.
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            drop(self.runtime.spawn(call));
        }
    }
}

impl std::fmt::Debug for Driving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driving")
            .field("ended", &self.call.is_none())
            .finish()
    }
}

/// Makes the call, tells the leader what came back, then (for an answer
/// that may be stored) reads its body into the flight and the store.
pub(crate) async fn drive<F, B, E>(
    call: impl FnOnce() -> F,
    handle: LeaderHandle,
    shared: &Shared,
    facts: &RequestFacts,
    key: CanonicalKey,
    requested_ttl: Option<Duration>,
    leader: oneshot::Sender<Led<B, E>>,
) where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
{
    // A store shared with other processes: one of them makes the call.
    let lease = match shared.store.claim(&key) {
        None => None,
        Some(claim) => match claim.await {
            Ok(Claim::Lead(lease)) => Some(lease),
            Ok(Claim::Found(entry)) => {
                // This flight's followers find it in the store.
                drop(handle);
                let _ = leader.send(Led::Found(entry));
                return;
            }
            Ok(Claim::Alone) => None,
            Err(_) => {
                shared.counters.store_error();
                None
            }
        },
    };
    let mut response = match call().await {
        Ok(response) => response,
        Err(error) => {
            // Followers make their own calls; the leader gets the error.
            drop(handle);
            let _ = leader.send(Led::Own(Err(error)));
            return;
        }
    };
    let storing = match shared.storing(facts, key, requested_ttl, &mut response) {
        Ok(storing) => storing,
        Err(reason) => {
            shared.counters.not_stored(reason);
            let made_by_layer = response.extensions().get::<MadeByLayer>().is_some();
            if after_answer(false, made_by_layer) == AfterAnswer::LeaderOnly {
                drop(handle);
                let _ = leader.send(Led::Own(Ok(response)));
                return;
            }
            // Everyone who joined this call gets it whole, as the leader
            // does (a layer's answer: its retry-after and x-llm-circuit
            // included); nobody joins it any more.
            let head = Head {
                status: response.status(),
                headers: passed_on(response.headers()),
            };
            let events = ResponseUsage::for_response(facts.kind(), &mut response, 0);
            let publisher = handle.publish_head(head.clone());
            publisher.close();
            let Some(flight) = publisher.flight().cloned() else {
                return;
            };
            let recorder = Box::new(Recorder::publish_only(publisher, events));
            return Box::pin(share(response, recorder, flight, shared, leader)).await;
        }
    };
    let (recorder, flight) = storing.with_lease(lease).recorder(Some(handle));
    let Some(flight) = flight else { return };
    // Boxed, as the recorder: the body's reading (kilobytes of state) would
    // otherwise be part of every flight's call, moved when it starts.
    Box::pin(share(response, Box::new(recorder), flight, shared, leader)).await;
}

/// Hands the leader its reader, then reads the body into the flight.
async fn share<B, E>(
    response: Response<B>,
    recorder: Box<Recorder>,
    flight: Arc<Flight>,
    shared: &Shared,
    leader: oneshot::Sender<Led<B, E>>,
) where
    B: Body<Data = Bytes>,
{
    let (parts, body) = response.into_parts();
    // The leader's reader counts from now on: a leader still waiting for
    // this message is a reader, one gone is not.
    let mut reader = FollowerBody::new(flight.clone());
    reader.expect_length(declared_length(&parts.headers));
    // The caller who made the call gets the upstream's own head, as a
    // call passed through would (request ids, rate-limit figures,
    // retry-after, the length); the others, the stored headers.
    let _ = leader.send(Led::Shared { parts, reader });
    pump(body, recorder, &flight, shared.config.max_entry_bytes).await;
}

/// What the next step of the pump is.
enum Step<F> {
    Frame(Option<F>),
    Abandon,
}

/// Reads the upstream body into the recorder (which publishes to the
/// flight and stores a whole answer at its end), pausing while the slowest
/// reader is `window` bytes behind an answer that will not be stored, and
/// stopping when nobody reads an answer that cannot be stored.
async fn pump<B>(body: B, mut recorder: Box<Recorder>, flight: &Flight, window: usize)
where
    B: Body<Data = Bytes>,
{
    let mut body = pin!(body);
    loop {
        let storable = recorder.can_store();
        let step = std::future::poll_fn(|cx| match flight.poll_may_read(cx, storable, window) {
            Poll::Ready(false) => Poll::Ready(Step::Abandon),
            Poll::Pending => Poll::Pending,
            Poll::Ready(true) => body.as_mut().poll_frame(cx).map(Step::Frame),
        })
        .await;
        match step {
            Step::Abandon => {
                return BodyObserver::<B::Error>::on_end(&mut *recorder, BodyEnd::Dropped)
            }
            Step::Frame(None) => {
                return BodyObserver::<B::Error>::on_end(&mut *recorder, BodyEnd::Complete)
            }
            Step::Frame(Some(Err(error))) => return recorder.on_end(BodyEnd::Error(&error)),
            Step::Frame(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    BodyObserver::<B::Error>::on_data(&mut *recorder, data);
                }
            }
        }
    }
}
