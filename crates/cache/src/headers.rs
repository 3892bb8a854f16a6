//! Which response headers an entry keeps, and the headers a cached answer
//! carries.

use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue};

/// The header that says what the cache did: `HIT`, `MISS`, `BYPASS`,
/// `REFRESH` or `STALE`.
pub const CACHE_HEADER: &str = "x-llm-cache";

/// Headers never stored: per-call identity and accounting (request ids,
/// rate-limit counters, `retry-after`, dates), credentials and cookies,
/// connection management, and the lengths the replay recomputes.
fn never_stored(name: &HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "set-cookie"
            | "authorization"
            | "proxy-authorization"
            | "www-authenticate"
            | "proxy-authenticate"
            | "x-request-id"
            | "request-id"
            | "openai-organization"
            | "openai-project"
            | "retry-after"
            | "date"
            | "age"
            | "expires"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "trailer"
            | "te"
            | "cf-ray"
            | "cf-cache-status"
            | "alt-svc"
            | "strict-transport-security"
            | "via"
            | "server-timing"
    ) || name.contains("ratelimit")
        || name.starts_with("x-envoy")
        || name == CACHE_HEADER
}

/// The headers of `headers` an entry keeps.
pub fn storable(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| !never_stored(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Whether the upstream forbade storing (`Cache-Control: no-store` or
/// `private`).
///
/// A body with a `Content-Encoding` (gzip, br, …) is not stored either: it
/// answers the caller's `Accept-Encoding`, which is not part of the key, so
/// replaying it could hand compressed bytes to a caller that cannot read
/// them (and no layer can read its usage).
pub fn upstream_forbids_storing(headers: &HeaderMap) -> bool {
    let encoded = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
    encoded
        || headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|directive| {
                let directive = directive.trim().to_ascii_lowercase();
                directive == "no-store" || directive == "private"
            })
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
    fn no_store_from_upstream() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=0, No-Store"),
        );
        assert!(upstream_forbids_storing(&headers));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        assert!(!upstream_forbids_storing(&headers));
    }
}
