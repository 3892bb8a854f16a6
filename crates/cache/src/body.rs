//! Response bodies of the cache layer: the upstream's body recorded on its
//! way to the caller, a replay of a stored entry, or the upstream's body
//! untouched.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use llm_layers_core::body::{BodyEnd, BodyObserver, TapBody};
use llm_layers_core::completeness::{check_plain_body, check_stream, Incomplete};
use llm_layers_core::usage::ResponseUsage;
use llm_layers_core::StreamCompletion;
use pin_project_lite::pin_project;
use smallvec::SmallVec;
use tower::BoxError;

use crate::entry::{CachedBody, CachedResponse, TimedChunk};
use crate::flight::{FollowerBody, Publisher};
use crate::stats::CacheCounters;
use crate::store::CacheStore;

pin_project! {
    /// The body of a response that passed through the cache layer: the
    /// upstream's (recorded as it streams, or untouched), a stored entry
    /// played back, or another request's upstream answer shared as it
    /// arrives (single flight).
    pub struct ResponseBody<B>
    where
        B: Body,
    {
        #[pin]
        inner: Inner<B>,
    }
}

pin_project! {
    #[project = InnerProjection]
    pub(crate) enum Inner<B>
    where
        B: Body,
    {
        Recorded { #[pin] body: TapBody<B, Recorder> },
        Passthrough { #[pin] body: B },
        Replay { replay: Replay },
        Follower { follower: FollowerBody },
    }
}

impl<B: Body> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.inner {
            Inner::Recorded { .. } => "upstream, recorded",
            Inner::Passthrough { .. } => "upstream",
            Inner::Replay { .. } => "stored entry",
            Inner::Follower { .. } => "shared flight",
        };
        f.debug_struct("ResponseBody")
            .field("source", &source)
            .finish_non_exhaustive()
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn recorded(body: TapBody<B, Recorder>) -> Self {
        ResponseBody {
            inner: Inner::Recorded { body },
        }
    }

    pub(crate) fn passthrough(body: B) -> Self {
        ResponseBody {
            inner: Inner::Passthrough { body },
        }
    }

    pub(crate) fn replay(replay: Replay) -> Self {
        ResponseBody {
            inner: Inner::Replay { replay },
        }
    }

    pub(crate) fn follower(follower: FollowerBody) -> Self {
        ResponseBody {
            inner: Inner::Follower { follower },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().inner.project() {
            InnerProjection::Recorded { body } => body.poll_frame(cx).map_err(Into::into),
            InnerProjection::Passthrough { body } => body.poll_frame(cx).map_err(Into::into),
            InnerProjection::Replay { replay } => replay
                .poll_next(cx)
                .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes)))),
            InnerProjection::Follower { follower } => follower
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|result| result.map(Frame::data).map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Recorded { body } => body.is_end_stream(),
            Inner::Passthrough { body } => body.is_end_stream(),
            Inner::Replay { replay } => replay.is_done(),
            Inner::Follower { follower } => follower.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Recorded { body } => body.size_hint(),
            Inner::Passthrough { body } => body.size_hint(),
            Inner::Replay { replay } => SizeHint::with_exact(replay.remaining_bytes()),
            Inner::Follower { .. } => SizeHint::default(),
        }
    }
}

/// Plays a stored entry's body back, chunk for chunk, byte for byte: at
/// once, or at the pace the chunks were recorded.
#[derive(Debug)]
pub(crate) struct Replay {
    entry: Arc<CachedResponse>,
    next: usize,
    pace: Option<Pace>,
}

#[derive(Debug)]
struct Pace {
    started: tokio::time::Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Replay {
    pub(crate) fn new(entry: Arc<CachedResponse>, paced: bool) -> Replay {
        let streamed = matches!(entry.body, CachedBody::Chunks(_));
        let pace = (paced && streamed).then(|| {
            let now = tokio::time::Instant::now();
            Pace {
                started: now,
                sleep: Box::pin(tokio::time::sleep_until(now)),
            }
        });
        Replay {
            entry,
            next: 0,
            pace,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let (Some(pace), CachedBody::Chunks(chunks)) = (&mut self.pace, &self.entry.body) {
            if let Some(chunk) = chunks.get(self.next) {
                let due = pace.started + chunk.offset;
                if tokio::time::Instant::now() < due {
                    pace.sleep.as_mut().reset(due);
                    if pace.sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
        Poll::Ready(self.next())
    }

    fn next(&mut self) -> Option<Bytes> {
        let chunk = match &self.entry.body {
            CachedBody::Whole(bytes) if self.next == 0 && !bytes.is_empty() => Some(bytes.clone()),
            CachedBody::Whole(_) => None,
            CachedBody::Chunks(chunks) => chunks.get(self.next).map(|c| c.bytes.clone()),
        };
        self.next += 1;
        chunk
    }

    fn is_done(&self) -> bool {
        match &self.entry.body {
            CachedBody::Whole(bytes) => self.next > 0 || bytes.is_empty(),
            CachedBody::Chunks(chunks) => self.next >= chunks.len(),
        }
    }

    fn remaining_bytes(&self) -> u64 {
        match &self.entry.body {
            CachedBody::Whole(bytes) if self.next == 0 => bytes.len() as u64,
            CachedBody::Whole(_) => 0,
            CachedBody::Chunks(chunks) => chunks
                .iter()
                .skip(self.next)
                .map(|c| c.bytes.len() as u64)
                .sum(),
        }
    }
}

/// Everything needed to store an answer once its body has ended normally.
pub(crate) struct Pending {
    pub store: Arc<dyn CacheStore>,
    pub key: llm_layers_core::CanonicalKey,
    pub entry: CachedResponse,
    pub counters: Arc<CacheCounters>,
    pub writes: Arc<crate::writes::PendingWrites>,
    pub max_entry_bytes: usize,
    /// The answer's `Content-Length`, checked against what arrived.
    pub declared_length: Option<u64>,
}

/// Records a miss's body as it streams past; stores it only if it is whole
/// (see [`llm_layers_core::completeness`]: a stream's end marker came, a
/// plain body is complete JSON of its declared length) and not too large.
/// It also hands each chunk to the requests following this one (single
/// flight), exactly as received.
pub(crate) struct Recorder {
    pending: Option<Pending>,
    publisher: Option<Publisher>,
    /// A JSON answer usually arrives in one chunk: kept inline.
    chunks: SmallVec<[TimedChunk; 1]>,
    size: usize,
    first_chunk: Option<Instant>,
    events: ResponseUsage,
}

impl Recorder {
    pub(crate) fn new(
        pending: Pending,
        publisher: Option<Publisher>,
        events: ResponseUsage,
    ) -> Recorder {
        Recorder {
            pending: Some(pending),
            publisher,
            chunks: SmallVec::new(),
            size: 0,
            first_chunk: None,
            events,
        }
    }
}

impl<E> BodyObserver<E> for Recorder {
    fn on_data(&mut self, data: &Bytes) {
        if let Some(publisher) = &self.publisher {
            publisher.chunk(data);
        }
        self.events.on_data(data);
        let Some(pending) = &self.pending else { return };
        self.size += data.len();
        if self.size > pending.max_entry_bytes {
            // Too large to store: stop recording and keep nothing; the
            // flight lets chunks go once read.
            pending.counters.not_stored(Incomplete::TooLarge);
            self.pending = None;
            self.chunks = SmallVec::new();
            if let Some(publisher) = &self.publisher {
                publisher.close();
            }
            return;
        }
        // Offsets pace a streamed replay; a whole body has none.
        let offset = if self.events.is_stream() {
            self.first_chunk.get_or_insert_with(Instant::now).elapsed()
        } else {
            Duration::ZERO
        };
        self.chunks.push(TimedChunk {
            offset,
            bytes: data.clone(),
        });
    }

    fn on_end(&mut self, end: BodyEnd<'_, E>) {
        // Publishes a stream parsed here for the layers outside.
        self.events.finish();
        let ended = match end {
            BodyEnd::Complete => Ok(()),
            BodyEnd::Error(_) => Err(Incomplete::BodyError),
            BodyEnd::Dropped => Err(Incomplete::Dropped),
        };
        // Store first, then release the followers: whoever comes next finds
        // the entry. Followers get what the caller got: a clean end when
        // the body ended cleanly, whole or not.
        self.store(ended);
        if let Some(publisher) = self.publisher.take() {
            publisher.finish(ended.is_ok());
        }
    }
}

impl Recorder {
    /// Publishes an answer to the flight without storing it.
    pub(crate) fn publish_only(publisher: Publisher, events: ResponseUsage) -> Recorder {
        Recorder {
            pending: None,
            publisher: Some(publisher),
            chunks: SmallVec::new(),
            size: 0,
            first_chunk: None,
            events,
        }
    }

    /// Whether the answer may still be stored (it has not outgrown an entry).
    pub(crate) fn can_store(&self) -> bool {
        self.pending.is_some()
    }

    fn store(&mut self, ended: Result<(), Incomplete>) {
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        let chunks = std::mem::take(&mut self.chunks);
        let stream = self.events.is_stream();
        let whole = ended.and_then(|()| match stream {
            true => check_stream(self.events.completion().unwrap_or(StreamCompletion::Open)),
            false => Ok(()),
        });
        if let Err(reason) = whole {
            pending.counters.not_stored(reason);
            return;
        }
        let joined = join(&chunks);
        if !stream {
            if let Err(reason) = check_plain_body(&joined, pending.declared_length) {
                pending.counters.not_stored(reason);
                return;
            }
        }
        pending.entry.body = if stream {
            CachedBody::Chunks(resliced(chunks, &joined))
        } else {
            CachedBody::Whole(joined)
        };
        store_now_or_in_background(pending);
    }
}

/// The chunks' bytes in one allocation of exactly their size.
///
/// Always a copy: a chunk from a connection is a slice of that
/// connection's read buffer, and an entry keeping it would keep the whole
/// buffer alive (kilobytes for a short answer), outside the store's bound.
fn join(chunks: &[TimedChunk]) -> Bytes {
    let mut joined = Vec::with_capacity(chunks.iter().map(|c| c.bytes.len()).sum());
    for chunk in chunks {
        joined.extend_from_slice(&chunk.bytes);
    }
    joined.into()
}

/// The same chunks as slices of `joined` (their bytes, in order).
fn resliced(chunks: SmallVec<[TimedChunk; 1]>, joined: &Bytes) -> Vec<TimedChunk> {
    let mut at = 0;
    chunks
        .into_iter()
        .map(|chunk| {
            let length = chunk.bytes.len();
            at += length;
            TimedChunk {
                offset: chunk.offset,
                bytes: joined.slice(at - length..at),
            }
        })
        .collect()
}

/// Stores the entry: at once when the store can (memory's `put_now`, or a
/// `put` future that is ready at its first poll), so that the next
/// identical request is a hit; otherwise on a task, without holding up the
/// caller's last frame.
fn store_now_or_in_background(pending: Pending) {
    let Pending {
        store,
        key,
        entry,
        counters,
        writes,
        ..
    } = pending;
    let entry = Arc::new(entry);
    if let Some(answer) = store.put_now(key, &entry) {
        counters.put_answered(&answer);
        return;
    }
    let task_counters = counters.clone();
    let write = writes.begin();
    let mut task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
        task_counters.put_answered(&store.put(key, entry).await);
        drop(write);
    });
    let mut context = Context::from_waker(Waker::noop());
    if task.as_mut().poll(&mut context).is_ready() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn(task)),
        Err(_) => counters.store_error(),
    }
}
