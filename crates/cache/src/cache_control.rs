//! `Cache-Control`, read once for requests and answers alike.
//!
//! Our own reader rather than the `headers` crate's `CacheControl`: that
//! one matches directive names case-sensitively (RFC 9111 says they are
//! not: `No-Store` must still forbid storing) and drops the whole header
//! when one value does not parse (so `no-store, max-age=abc` would lose
//! its `no-store`).

use std::time::Duration;

use http::{header, HeaderMap};

/// An age directive's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Age {
    /// A number of seconds.
    Seconds(Duration),
    /// Present, but not a number: each side decides what that means.
    Unreadable,
}

/// The directives this cache acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    pub no_cache: bool,
    pub no_store: bool,
    pub private: bool,
    pub only_if_cached: bool,
    pub max_age: Option<Age>,
    pub s_maxage: Option<Age>,
}

/// Every `Cache-Control` value of `headers`, directives in any case,
/// quoted or bare ages; unknown directives are ignored.
pub(crate) fn directives(headers: &HeaderMap) -> Directives {
    let mut found = Directives::default();
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument)),
                None => (directive, None),
            };
            let age = || {
                let seconds = argument?.trim().trim_matches('"').parse().ok();
                Some(seconds.map_or(Age::Unreadable, |s| Age::Seconds(Duration::from_secs(s))))
            };
            match name.to_ascii_lowercase().as_str() {
                "no-cache" => found.no_cache = true,
                "no-store" => found.no_store = true,
                "private" => found.private = true,
                "only-if-cached" => found.only_if_cached = true,
                "max-age" => found.max_age = age().or(Some(Age::Unreadable)),
                "s-maxage" => found.s_maxage = age().or(Some(Age::Unreadable)),
                _ => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(values: &[&'static str]) -> Directives {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::CACHE_CONTROL, http::HeaderValue::from_static(value));
        }
        directives(&headers)
    }

    #[test]
    fn names_in_any_case_ages_quoted_or_not_over_several_values() {
        let found = read(&["No-Cache, MAX-AGE=\"30\"", "only-if-cached", "Private"]);
        assert!(found.no_cache && found.only_if_cached && found.private && !found.no_store);
        assert_eq!(found.max_age, Some(Age::Seconds(Duration::from_secs(30))));
    }

    #[test]
    fn one_bad_value_does_not_hide_the_others() {
        let found = read(&["no-store, max-age=abc, s-maxage=99999999999999999999999"]);
        assert!(found.no_store);
        assert_eq!(found.max_age, Some(Age::Unreadable));
        assert_eq!(found.s_maxage, Some(Age::Unreadable));
        assert_eq!(read(&["max-age"]).max_age, Some(Age::Unreadable));
        assert_eq!(read(&[]), Directives::default());
    }
}
