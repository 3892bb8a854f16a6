//! What the cache keeps of a response.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// Bytes a stored entry costs besides its body and headers (see
/// [`CachedResponse::size`]).
const ENTRY_OVERHEAD: usize = 640;

/// A stored response: status, the headers a client needs, and the body as
/// it arrived (one piece, or the stream's chunks with their timing).
#[derive(Clone, Debug)]
pub struct CachedResponse {
    /// The upstream's status (always 2xx).
    pub status: StatusCode,
    /// Headers kept (see [`crate::headers::storable`]).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: CachedBody,
    /// When it was stored.
    pub stored_at: SystemTime,
    /// How long it stays fresh.
    pub ttl: Duration,
}

/// A stored body.
#[derive(Clone, Debug)]
pub enum CachedBody {
    /// A complete body.
    Whole(Bytes),
    /// A stream's chunks, exactly as they arrived, each with its offset
    /// from the first chunk (for paced replay).
    Chunks(Vec<TimedChunk>),
}

/// One recorded chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedChunk {
    /// Time since the first chunk.
    pub offset: Duration,
    /// The bytes.
    pub bytes: Bytes,
}

impl CachedResponse {
    /// Bytes the entry holds: body, headers and a fixed overhead.
    ///
    /// The overhead is what the store spends per entry besides those bytes
    /// (moka's entry and timer nodes, the `Arc`, the header vector, the
    /// allocator's rounding), measured with `examples/entry_footprint`: a
    /// 4 KB answer with two headers takes about 4.8 KB of resident memory.
    pub fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        let body = match &self.body {
            CachedBody::Whole(bytes) => bytes.len(),
            CachedBody::Chunks(chunks) => chunks.iter().map(|c| c.bytes.len() + 32).sum(),
        };
        ENTRY_OVERHEAD + headers + body
    }

    /// How old the entry is now.
    pub fn age(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.stored_at)
            .unwrap_or(Duration::ZERO)
    }

    /// Whether it is still fresh.
    pub fn is_fresh(&self) -> bool {
        self.age() < self.ttl
    }

    /// The headers as a map.
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            map.append(name.clone(), value.clone());
        }
        map
    }
}
