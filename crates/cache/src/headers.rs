//! Which response headers an entry keeps, and the headers a cached answer
//! carries.

use bytes::BytesMut;

use crate::cache_control::{self, Age};
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue};

/// The header that says what the cache did: `HIT`, `MISS`, `BYPASS` or
/// `REFRESH` (see `CacheOutcome::header_value`).
pub use llm_layers_core::cache_status::CACHE_HEADER;

/// [`CACHE_HEADER`], parsed once.
pub(crate) const CACHE_HEADER_NAME: HeaderName = HeaderName::from_static(CACHE_HEADER);

/// Declares the names never stored once: as one `match` on the name's
/// text (a standard name's text is a table lookup, and the arms compare
/// lengths first, so a name is compared with the few of its own length),
/// and as a list for the tests.
macro_rules! never_stored_names {
    ($($name:literal),* $(,)?) => {
        fn is_listed(name: &str) -> bool {
            matches!(name, $($name)|*)
        }

        #[cfg(test)]
        const NEVER_STORED: &[&str] = &[$($name),*];
    };
}

never_stored_names![
    // Cookies and credentials.
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    // Per call: dates, ids, accounting.
    "retry-after",
    "date",
    "age",
    "expires",
    "x-request-id",
    "request-id",
    "openai-organization",
    "openai-project",
    "cf-ray",
    "cf-cache-status",
    "server-timing",
    "via",
    "alt-svc",
    "strict-transport-security",
    // The connection, and lengths the replay recomputes.
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "trailer",
    "te",
    // What this cache and the layers below said about the call
    // (`CACHE_HEADER`, the retry's attempts, the circuit breaker's state).
    "x-llm-cache",
    "x-llm-attempts",
    "x-llm-circuit",
];

/// Headers never stored: per-call identity and accounting (request ids,
/// rate-limit counters, `retry-after`, dates), credentials and cookies,
/// connection management, and the lengths the replay recomputes.
fn never_stored(name: &HeaderName) -> bool {
    let name = name.as_str();
    is_listed(name) || name.starts_with("x-envoy") || contains_ratelimit(name.as_bytes())
}

/// `x-ratelimit-…`, `anthropic-ratelimit-…` and the like.
fn contains_ratelimit(name: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"ratelimit";
    // Look only where an `r` starts a long enough rest.
    memchr::memchr_iter(b'r', name).any(|at| name[at..].starts_with(NEEDLE))
}

/// The headers of `headers` an entry keeps.
///
/// Values are copied (into one allocation): a value parsed from a
/// connection is a slice of that connection's read buffer, and an entry
/// keeping it would keep the whole buffer alive (kilobytes per entry),
/// outside the store's bound.
pub fn storable(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let kept: Vec<(&HeaderName, &HeaderValue)> = headers
        .iter()
        .filter(|(name, _)| !never_stored(name))
        .collect();
    let length = kept.iter().map(|(_, value)| value.len()).sum();
    let mut values = BytesMut::with_capacity(length);
    let mut stored = Vec::with_capacity(kept.len());
    for (name, value) in kept {
        values.extend_from_slice(value.as_bytes());
        // The bytes of a valid value are a valid value: the fallback is
        // never taken.
        let mut copy = HeaderValue::from_maybe_shared(values.split().freeze())
            .unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        stored.push((name.clone(), copy));
    }
    stored
}

/// The headers of `headers` passed on to the caller who made the call:
/// all but those of the connection and the lengths the flight's body
/// recomputes.
pub(crate) fn passed_on(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "content-length"
                    | "transfer-encoding"
                    | "connection"
                    | "keep-alive"
                    | "upgrade"
                    | "trailer"
                    | "te"
            )
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// What the upstream's answer says about storing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpstreamDirectives {
    /// `Cache-Control: no-store` or `private`, a `max-age` of 0, or an
    /// encoded body: not stored.
    pub forbids: bool,
    /// `s-maxage` (for shared caches, which this is), else `max-age`: the
    /// entry's TTL is at most this.
    pub max_age: Option<std::time::Duration>,
}

/// Reads the upstream's `Cache-Control` (and `Content-Encoding`).
///
/// A body with a `Content-Encoding` (gzip, br, …) is not stored: it
/// answers the caller's `Accept-Encoding`, which is not part of the key, so
/// replaying it could hand compressed bytes to a caller that cannot read
/// them (and no layer can read its usage).
pub fn upstream_directives(headers: &HeaderMap) -> UpstreamDirectives {
    let encoded = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
    let found = cache_control::directives(headers);
    // `s-maxage` is for shared caches, which this is; an age that does
    // not parse counts as 0 (stale at once).
    let max_age = found.s_maxage.or(found.max_age).map(|age| match age {
        Age::Seconds(age) => age,
        Age::Unreadable => std::time::Duration::ZERO,
    });
    UpstreamDirectives {
        forbids: encoded
            || found.no_store
            || found.private
            || max_age == Some(std::time::Duration::ZERO),
        max_age,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_content_headers_and_drops_per_call_ones() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("openai-processing-ms", "12"),
            ("openai-version", "2020-10-01"),
            ("x-request-id", "req_1"),
            ("set-cookie", "a=b"),
            ("x-ratelimit-remaining-requests", "99"),
            ("anthropic-ratelimit-tokens-remaining", "9"),
            ("content-length", "10"),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let stored = storable(&headers);
        let kept: Vec<&str> = stored.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            kept,
            ["content-type", "openai-processing-ms", "openai-version"]
        );
    }

    #[test]
    fn every_listed_name_is_dropped_and_only_those() {
        for name in NEVER_STORED {
            assert!(never_stored(&HeaderName::from_static(name)), "{name}");
        }
        assert!(never_stored(&CACHE_HEADER_NAME));
        for name in [
            "x-envoy-upstream-service-time",
            "x-ratelimit-limit-tokens",
            "anthropic-ratelimit-requests-reset",
        ] {
            assert!(never_stored(&HeaderName::from_static(name)), "{name}");
        }
        for kept in [
            "content-type",
            "openai-version",
            "openai-processing-ms",
            "anthropic-organization-id",
            "x-request",
            "dates",
            "te2",
            "cache-control",
        ] {
            assert!(!never_stored(&HeaderName::from_static(kept)), "{kept}");
        }
    }

    #[test]
    fn no_store_private_and_ages_from_upstream() {
        let directives = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
            upstream_directives(&headers)
        };
        assert!(directives("max-age=60, No-Store").forbids);
        assert!(directives("PRIVATE").forbids);
        assert!(directives("max-age=0").forbids);
        let sixty = Some(std::time::Duration::from_secs(60));
        assert_eq!(
            directives("max-age=60"),
            UpstreamDirectives {
                forbids: false,
                max_age: sixty
            }
        );
        assert_eq!(directives("max-age=600, s-maxage=60").max_age, sixty);
        assert!(!upstream_directives(&HeaderMap::new()).forbids);
    }
}
