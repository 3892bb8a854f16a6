//! What the crate's unit tests share.

use http::HeaderMap;

/// A header map of `(name, value)` pairs.
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
        .collect()
}
