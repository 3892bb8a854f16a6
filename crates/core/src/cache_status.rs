//! What a response cache decided for a request, in the response's
//! extensions, so that outer layers and callers can read it without
//! guessing.

use std::time::Duration;

use crate::facts::key::CanonicalKey;

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
}

/// The name of the header that carries the outcome (`HIT`, `MISS`, …).
pub const CACHE_HEADER: &str = "x-llm-cache";

impl CacheOutcome {
    /// Every outcome, in a fixed order (see [`CacheOutcome::index`]).
    pub const ALL: [CacheOutcome; 4] = [
        CacheOutcome::Hit,
        CacheOutcome::Miss,
        CacheOutcome::Bypass,
        CacheOutcome::Refresh,
    ];

    /// A short, stable name for metric labels (`hit`, `miss`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Bypass => "bypass",
            CacheOutcome::Refresh => "refresh",
        }
    }

    /// The value of the [`CACHE_HEADER`] (`HIT`, `MISS`, …).
    pub fn header_value(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "HIT",
            CacheOutcome::Miss => "MISS",
            CacheOutcome::Bypass => "BYPASS",
            CacheOutcome::Refresh => "REFRESH",
        }
    }

    /// This outcome's place in [`CacheOutcome::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the answer came from the cache rather than the upstream.
    pub fn served_from_cache(self) -> bool {
        self == CacheOutcome::Hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_place_label_and_header_value() {
        for (at, outcome) in CacheOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome.index(), at);
            assert_eq!(
                outcome.header_value().to_ascii_lowercase(),
                outcome.as_str()
            );
        }
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
