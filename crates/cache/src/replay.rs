//! Playing a stored entry's body back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::entry::{CachedBody, CachedResponse};

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

    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
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

    pub(crate) fn is_done(&self) -> bool {
        match &self.entry.body {
            CachedBody::Whole(bytes) => self.next > 0 || bytes.is_empty(),
            CachedBody::Chunks(chunks) => self.next >= chunks.len(),
        }
    }

    pub(crate) fn remaining_bytes(&self) -> u64 {
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
