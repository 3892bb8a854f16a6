//! What the cache does with a request, decided without I/O: from the
//! configuration, the request's controls and its facts, the key and what
//! to do with it. The service (`service.rs`) carries the plan out.
//!
//! | the request | plan |
//! |---|---|
//! | not understood (unknown API, not JSON, no model), or mode `Off` / `no-store` | none: pass through (`BYPASS`) |
//! | `On` | read; on a miss, share one upstream call (single flight) and store a whole answer (`MISS`) |
//! | `no-cache` | no read; call upstream, store (`REFRESH`) |
//! | `ReadOnly` | read; on a miss, call upstream, store nothing (`MISS`) |
//! | `WriteOnly` | no read; call upstream, store (`MISS`) |
//! | `only-if-cached` | read; on a miss, 504 without calling upstream |
//! | `max-age=N` | read; an entry older than N seconds is a miss |
//!
//! Once a shared call answers, [`after_answer`] decides who gets it: a
//! storable answer is stored and shared; an answer a layer made (a
//! timeout's 504) is shared with everyone who joined but not stored; any
//! other answer goes to the caller who made the call, and the others make
//! their own.

use std::time::Duration;

use llm_layers_core::{CacheOutcome, CanonicalKey, RequestFacts};

use crate::config::CacheConfig;
use crate::controls::CacheControls;

/// The cache's plan for one request; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The entry's key.
    pub key: CanonicalKey,
    /// Look the key up first.
    pub read: bool,
    /// Store a whole answer.
    pub write: bool,
    /// Identical misses share one upstream call (reading and writing).
    pub share: bool,
    /// What a miss is called: `Miss` or `Refresh`.
    pub miss: CacheOutcome,
    /// An entry older than this is not served.
    pub max_age: Option<Duration>,
    /// A miss answers 504 instead of calling upstream.
    pub only_if_cached: bool,
    /// The TTL the request asked for.
    pub requested_ttl: Option<Duration>,
}

impl Plan {
    /// Whether an entry this old may be served.
    pub fn serves(&self, age: Duration) -> bool {
        self.max_age.is_none_or(|max| age <= max)
    }
}

/// The plan for a request; `None` when the cache stays out of it.
pub(crate) fn plan(
    config: &CacheConfig,
    controls: &CacheControls,
    facts: Option<&RequestFacts>,
) -> Option<Plan> {
    let facts = facts.filter(|facts| facts.is_understood())?;
    let mode = config.mode;
    let (read, write) = (controls.reads(mode), controls.writes(mode));
    if !read && !write {
        return None;
    }
    let key = match config.share_across_credentials {
        true => facts.key_without_credential(),
        false => facts.canonical_key(),
    }?;
    let namespace = controls
        .namespace
        .as_deref()
        .or(config.namespace.as_deref());
    Some(Plan {
        key: namespace.map_or(key, |namespace| key.in_namespace(namespace)),
        read,
        write,
        share: read && write,
        miss: match controls.no_cache {
            true => CacheOutcome::Refresh,
            false => CacheOutcome::Miss,
        },
        max_age: controls.max_age,
        only_if_cached: read && controls.only_if_cached,
        requested_ttl: controls.ttl,
    })
}

/// Who gets the answer of a shared upstream call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterAnswer {
    /// Stored and shared with every request that joined.
    StoreAndShare,
    /// Shared with every request that joined; not stored.
    ShareOnly,
    /// The leader's alone; the others make their own calls.
    LeaderOnly,
}

/// See the module documentation.
pub(crate) fn after_answer(storable: bool, made_by_layer: bool) -> AfterAnswer {
    match (storable, made_by_layer) {
        (true, _) => AfterAnswer::StoreAndShare,
        (false, true) => AfterAnswer::ShareOnly,
        (false, false) => AfterAnswer::LeaderOnly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::CacheMode;
    use bytes::Bytes;

    fn facts(body: &'static str, key: &str) -> RequestFacts {
        let (parts, ()) = http::Request::post("https://api.openai.com/v1/chat/completions")
            .header("authorization", format!("Bearer {key}"))
            .body(())
            .unwrap()
            .into_parts();
        RequestFacts::from_parts(&parts, Bytes::from_static(body.as_bytes()))
    }

    const CHAT: &str = r#"{"model":"gpt-4o","messages":[]}"#;

    fn with(mode: Option<CacheMode>, cache_control: &[&str]) -> CacheControls {
        let mut headers = http::HeaderMap::new();
        for value in cache_control {
            headers.append(http::header::CACHE_CONTROL, value.parse().unwrap());
        }
        CacheControls {
            mode,
            ..CacheControls::take_from_headers(&mut headers)
        }
    }

    #[test]
    fn the_decision_table() {
        let config = CacheConfig::default();
        let facts = facts(CHAT, "sk-a");
        let decide = |controls: CacheControls| plan(&config, &controls, Some(&facts));
        let on = decide(with(None, &[])).unwrap();
        assert!(on.read && on.write && on.share && !on.only_if_cached);
        assert_eq!(on.miss, CacheOutcome::Miss);
        let refresh = decide(with(None, &["no-cache"])).unwrap();
        assert!(!refresh.read && refresh.write && !refresh.share);
        assert_eq!(refresh.miss, CacheOutcome::Refresh);
        let read_only = decide(with(Some(CacheMode::ReadOnly), &[])).unwrap();
        assert!(read_only.read && !read_only.write && !read_only.share);
        let write_only = decide(with(Some(CacheMode::WriteOnly), &[])).unwrap();
        assert!(!write_only.read && write_only.write);
        assert!(decide(with(None, &["no-store"])).is_none());
        assert!(decide(with(Some(CacheMode::Off), &[])).is_none());
        let only = decide(with(None, &["only-if-cached", "max-age=5"])).unwrap();
        assert!(only.only_if_cached);
        assert!(only.serves(Duration::from_secs(5)) && !only.serves(Duration::from_secs(6)));
    }

    #[test]
    fn not_understood_requests_and_partitions() {
        let config = CacheConfig::default();
        let none = CacheControls::default();
        assert!(plan(&config, &none, None).is_none());
        let opaque = facts(r#"["not an object"]"#, "sk-a");
        assert!(plan(&config, &none, Some(&opaque)).is_none());
        let a = plan(&config, &none, Some(&facts(CHAT, "sk-a"))).unwrap();
        let b = plan(&config, &none, Some(&facts(CHAT, "sk-b"))).unwrap();
        assert_ne!(a.key, b.key, "partitioned by credential");
        let shared = CacheConfig {
            share_across_credentials: true,
            ..CacheConfig::default()
        };
        let a = plan(&shared, &none, Some(&facts(CHAT, "sk-a"))).unwrap();
        let b = plan(&shared, &none, Some(&facts(CHAT, "sk-b"))).unwrap();
        assert_eq!(a.key, b.key, "shared on purpose");
        let named = CacheControls {
            namespace: Some("app".into()),
            ..CacheControls::default()
        };
        let in_app = plan(&shared, &named, Some(&facts(CHAT, "sk-a"))).unwrap();
        assert_ne!(in_app.key, a.key, "a namespace is another key");
    }

    #[test]
    fn who_gets_a_shared_answer() {
        assert_eq!(after_answer(true, false), AfterAnswer::StoreAndShare);
        assert_eq!(after_answer(false, true), AfterAnswer::ShareOnly);
        assert_eq!(after_answer(false, false), AfterAnswer::LeaderOnly);
    }
}
