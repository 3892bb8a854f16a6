//! What a response cache decided for a request, in the response's
//! extensions, so that outer layers and callers can read it without
//! guessing.

use std::time::Duration;

use crate::key::CanonicalKey;

/// The cache's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Answered from the cache; the upstream was not called.
    Hit,
    /// Not in the cache; the upstream answered (and the answer may be stored).
    Miss,
    /// The cache was not consulted (mode, `no-store`, uncacheable request).
    Bypass,
    /// The read was skipped on purpose (`no-cache`); the entry was refreshed.
    Refresh,
    /// Answered from an entry past its freshness.
    Stale,
}

impl CacheOutcome {
    /// A short, stable name for labels and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Bypass => "bypass",
            CacheOutcome::Refresh => "refresh",
            CacheOutcome::Stale => "stale",
        }
    }

    /// Whether the answer came from the cache rather than the upstream.
    pub fn served_from_cache(self) -> bool {
        matches!(self, CacheOutcome::Hit | CacheOutcome::Stale)
    }
}

/// The cache's record of one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheStatus {
    /// What it decided.
    pub outcome: CacheOutcome,
    /// The key it used, if the request had one.
    pub key: Option<CanonicalKey>,
    /// The age of the entry served, for hits.
    pub age: Option<Duration>,
}
