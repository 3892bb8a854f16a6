//! What a request asks of the cache: `Cache-Control` directives, the mode,
//! TTL and namespace headers, or a typed extension.
//!
//! | request header | meaning |
//! |---|---|
//! | `Cache-Control: no-cache` | do not read; call upstream and refresh the entry |
//! | `Cache-Control: no-store` | neither read nor write |
//! | `Cache-Control: max-age=N` | accept only entries at most N seconds old |
//! | `Cache-Control: only-if-cached` | answer 504 on a miss, without calling upstream |
//! | `x-llm-cache-mode: on\|off\|read-only\|write-only` | this request's mode |
//! | `x-llm-cache-ttl: N` | store this answer for N seconds |
//! | `x-llm-cache-namespace: NAME` | look up and store in this namespace |
//!
//! The `x-llm-cache-*` headers are removed before the request goes upstream.

use std::time::Duration;

use http::{HeaderMap, HeaderName};

use crate::cache_control::{directives, Age};
use crate::mode::CacheMode;

/// Request header choosing the mode.
pub const MODE_HEADER: &str = "x-llm-cache-mode";
/// Request header choosing the TTL in seconds.
pub const TTL_HEADER: &str = "x-llm-cache-ttl";
/// Request header choosing the namespace.
pub const NAMESPACE_HEADER: &str = "x-llm-cache-namespace";

// The same names parsed once (a `&str` name is parsed on every lookup).
const MODE_NAME: HeaderName = HeaderName::from_static(MODE_HEADER);
const TTL_NAME: HeaderName = HeaderName::from_static(TTL_HEADER);
const NAMESPACE_NAME: HeaderName = HeaderName::from_static(NAMESPACE_HEADER);

/// Per-request choices; also accepted as a request extension, which takes
/// precedence over the headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheControls {
    /// The mode for this request.
    pub mode: Option<CacheMode>,
    /// The TTL for this request's answer.
    pub ttl: Option<Duration>,
    /// The namespace for this request.
    pub namespace: Option<String>,
    /// Skip the read, refresh the entry (`no-cache`).
    pub no_cache: bool,
    /// Neither read nor write (`no-store`).
    pub no_store: bool,
    /// Accept only entries this young (`max-age`).
    pub max_age: Option<Duration>,
    /// Answer 504 on a miss (`only-if-cached`).
    pub only_if_cached: bool,
}

impl CacheControls {
    /// Reads the controls from request headers (and removes the
    /// `x-llm-cache-*` ones). Values that do not parse are ignored.
    pub fn take_from_headers(headers: &mut HeaderMap) -> CacheControls {
        let directives = directives(headers);
        let mut controls = CacheControls {
            no_cache: directives.no_cache,
            no_store: directives.no_store,
            only_if_cached: directives.only_if_cached,
            // An age that does not parse is ignored.
            max_age: match directives.max_age {
                Some(Age::Seconds(age)) => Some(age),
                Some(Age::Unreadable) | None => None,
            },
            ..CacheControls::default()
        };
        // Most requests carry none of the three: one pass over the names
        // instead of three lookups.
        if !headers
            .keys()
            .any(|name| name.as_str().starts_with("x-llm-cache-"))
        {
            return controls;
        }
        let text = |value: http::HeaderValue| value.to_str().ok().map(|v| v.trim().to_owned());
        controls.mode = headers
            .remove(MODE_NAME)
            .and_then(text)
            .and_then(|v| v.parse().ok());
        controls.ttl = headers
            .remove(TTL_NAME)
            .and_then(text)
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs);
        controls.namespace = headers
            .remove(NAMESPACE_NAME)
            .and_then(text)
            .filter(|v| !v.is_empty());
        controls
    }

    /// These controls, with `extension`'s choices taking precedence.
    pub fn overridden_by(mut self, extension: Option<&CacheControls>) -> CacheControls {
        if let Some(extension) = extension {
            self.mode = extension.mode.or(self.mode);
            self.ttl = extension.ttl.or(self.ttl);
            self.namespace = extension.namespace.clone().or(self.namespace);
            self.no_cache |= extension.no_cache;
            self.no_store |= extension.no_store;
            self.max_age = extension.max_age.or(self.max_age);
            self.only_if_cached |= extension.only_if_cached;
        }
        self
    }

    /// Whether to look up, given the configured mode.
    pub fn reads(&self, configured: CacheMode) -> bool {
        self.mode.unwrap_or(configured).read() && !self.no_cache && !self.no_store
    }

    /// Whether to store, given the configured mode.
    pub fn writes(&self, configured: CacheMode) -> bool {
        self.mode.unwrap_or(configured).write() && !self.no_store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controls(pairs: &[(&str, &str)]) -> (CacheControls, HeaderMap) {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let controls = CacheControls::take_from_headers(&mut headers);
        (controls, headers)
    }

    #[test]
    fn cache_control_directives() {
        let (c, _) = controls(&[
            ("cache-control", "No-Cache, max-age=30"),
            ("cache-control", "only-if-cached"),
        ]);
        assert!(c.no_cache && c.only_if_cached && !c.no_store);
        assert_eq!(c.max_age, Some(Duration::from_secs(30)));
        assert!(!c.reads(CacheMode::On));
        assert!(c.writes(CacheMode::On));
        let (c, _) = controls(&[("cache-control", "no-store")]);
        assert!(!c.reads(CacheMode::On) && !c.writes(CacheMode::On));
    }

    #[test]
    fn our_headers_are_read_and_removed() {
        let (c, rest) = controls(&[
            ("x-llm-cache-mode", "read-only"),
            ("x-llm-cache-ttl", "90"),
            ("x-llm-cache-namespace", "app-a"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(c.mode, Some(CacheMode::ReadOnly));
        assert_eq!(c.ttl, Some(Duration::from_secs(90)));
        assert_eq!(c.namespace.as_deref(), Some("app-a"));
        assert_eq!(rest.len(), 1);
        assert!(c.reads(CacheMode::Off) && !c.writes(CacheMode::On));
    }

    #[test]
    fn the_extension_wins() {
        let (c, _) = controls(&[("x-llm-cache-mode", "off")]);
        let chosen = c.overridden_by(Some(&CacheControls {
            mode: Some(CacheMode::On),
            ..CacheControls::default()
        }));
        assert_eq!(chosen.mode, Some(CacheMode::On));
    }
}
