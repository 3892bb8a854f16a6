//! Recording a miss's body as it streams past, and storing it when whole.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use llm_layers_core::body::{BodyEnd, BodyObserver};
use llm_layers_core::completeness::{check_plain_answer, check_stream, Incomplete};
use llm_layers_core::usage::{token_usage_from_json, ResponseUsage};
use llm_layers_core::StreamCompletion;
use llm_layers_core::{Usage, UsageTracker};
use smallvec::SmallVec;

use crate::entry::{CachedBody, CachedResponse, TimedChunk};
use crate::flight::Publisher;
use crate::stats::CacheCounters;
use crate::store::CacheStore;

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
    /// Other processes wait for this answer while it is held: given up
    /// once the entry is stored, or once it is known it will not be.
    pub lease: Option<crate::store::Lease>,
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
        // Publishes a stream parsed here for the layers outside; a plain
        // body kept here is read with the store's check, below.
        if !self.events.keeps_body() {
            self.events.finish();
        }
        let ended = match end {
            BodyEnd::Complete => Ok(()),
            BodyEnd::Error(_) => Err(Incomplete::BodyError),
            BodyEnd::Dropped => Err(Incomplete::Dropped),
        };
        // Store first, then release the followers: whoever comes next finds
        // the entry. Followers get what the caller got: a clean end when
        // the body ended cleanly, whole or not.
        let usage = self.store(ended);
        self.events.finish_kept(usage);
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

    /// Stores the answer if it is whole. Returns a plain body's usage, read
    /// by the same scan that checks it is whole, for the layers outside
    /// when the body is kept here ([`ResponseUsage::keeps_body`]); for a
    /// body that is not whole, what those layers would have read of it.
    fn store(&mut self, ended: Result<(), Incomplete>) -> Option<Usage> {
        let mut pending = self.pending.take()?;
        let chunks = std::mem::take(&mut self.chunks);
        let stream = self.events.is_stream();
        let kind = self.events.kind();
        let kept = self.events.keeps_body();
        let whole = ended.and_then(|()| match stream {
            true => check_stream(self.events.completion().unwrap_or(StreamCompletion::Open)),
            false => Ok(()),
        });
        if let Err(reason) = whole {
            pending.counters.not_stored(reason);
            return kept.then(|| token_usage_from_json(kind, &join(&chunks)))?;
        }
        let joined = join(&chunks);
        let mut usage = None;
        if !stream {
            match check_plain_answer(&joined, pending.declared_length, kind) {
                Ok(read) => usage = read,
                Err(reason) => {
                    pending.counters.not_stored(reason);
                    return kept.then(|| token_usage_from_json(kind, &joined))?;
                }
            }
            // Read once: a hit publishes it without reading the body again.
            pending.entry.usage = OnceLock::from(Some(UsageTracker::of_body(kind, usage.clone())));
        }
        pending.entry.body = if stream {
            CachedBody::Chunks(resliced(chunks, &joined))
        } else {
            CachedBody::Whole(joined)
        };
        store_now_or_in_background(pending);
        usage
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
        lease,
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
        // Stored: whoever waited in another process finds it now.
        drop(lease);
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
