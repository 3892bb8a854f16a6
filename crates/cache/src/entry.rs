//! What the cache keeps of a response.

use std::time::{Duration, SystemTime};

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use llm_layers_core::usage::{token_usage_from_json, UsageTracker};
use llm_layers_core::ApiKind;

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
    /// The answer's usage, read from a whole body at its first hit and
    /// kept, so that the layers outside (metrics) do not read it again on
    /// every hit. Not written to disk or Redis: each process reads it once.
    /// `Default::default()` when making an entry.
    pub usage: OnceLock<Option<UsageTracker>>,
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
    /// allocator's rounding), measured with the `cache_memory` example's
    /// `footprint` run: a 4 KB answer takes about 4.8 KB of resident memory.
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

    /// The usage of a whole 2xx body (read at the first call, then kept),
    /// to publish with a hit; `None` for a stream (its replay is read as
    /// it goes) or an error.
    pub fn usage(&self, kind: ApiKind) -> Option<&UsageTracker> {
        let CachedBody::Whole(body) = &self.body else {
            return None;
        };
        if !self.status.is_success() {
            return None;
        }
        self.usage
            .get_or_init(|| {
                Some(UsageTracker::of_body(
                    kind,
                    token_usage_from_json(kind, body),
                ))
            })
            .as_ref()
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
        // Room for the headers a hit adds (`x-llm-cache`, `age`) and one
        // more a layer outside may, without growing the map.
        let mut map = HeaderMap::with_capacity(self.headers.len() + 3);
        for (name, value) in &self.headers {
            map.append(name.clone(), value.clone());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: StatusCode, body: CachedBody) -> CachedResponse {
        CachedResponse {
            status,
            headers: Vec::new(),
            body,
            stored_at: SystemTime::now(),
            ttl: Duration::from_secs(60),
            usage: Default::default(),
        }
    }

    #[test]
    fn a_whole_answers_usage_is_read_once_and_kept() {
        let answer = br#"{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        let whole = entry(
            StatusCode::OK,
            CachedBody::Whole(Bytes::from_static(answer)),
        );
        let first = whole.usage(ApiKind::OpenAiChat).expect("read");
        let usage = first.usage().expect("usage in the body");
        assert_eq!((usage.input_tokens, usage.output_tokens), (12, 3));
        // The same tracker the second time: kept, not read again.
        let second = whole.usage(ApiKind::OpenAiChat).expect("kept");
        assert!(std::ptr::eq(first, second));

        let error = entry(
            StatusCode::TOO_MANY_REQUESTS,
            CachedBody::Whole(Bytes::from_static(answer)),
        );
        assert!(error.usage(ApiKind::OpenAiChat).is_none());
        let stream = entry(StatusCode::OK, CachedBody::Chunks(Vec::new()));
        assert!(stream.usage(ApiKind::OpenAiChat).is_none());
    }
}
