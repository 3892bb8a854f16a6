//! The transport failures every layer can classify without matching
//! strings: the connector returns them, the metrics and resilience layers
//! find them in any error's source chain with [`find_upstream_error`].

use std::error::Error as StdError;

/// What went wrong on the way to the provider.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The TCP connection could not be made (refused, unreachable, DNS).
    #[error("connecting to the upstream: {0}")]
    Connect(#[source] BoxError),
    /// The TLS handshake failed (unknown root, bad certificate, protocol).
    #[error("TLS handshake with the upstream: {0}")]
    Tls(#[source] BoxError),
    /// Connecting, the TLS handshake or the response head took too long.
    #[error("timed out talking to the upstream: {0}")]
    Timeout(#[source] BoxError),
    /// The upstream closed the connection before the response head.
    #[error("the upstream closed the connection: {0}")]
    UpstreamClosed(#[source] BoxError),
    /// Reading or writing the connection failed.
    #[error("I/O with the upstream: {0}")]
    Io(#[source] BoxError),
    /// The request could not be sent as given (e.g. a URI without a host).
    #[error("invalid request: {0}")]
    InvalidRequest(#[source] BoxError),
    /// Anything else hyper reported.
    #[error("upstream request failed: {0}")]
    Other(#[source] BoxError),
}

/// A boxed error.
pub type BoxError = Box<dyn StdError + Send + Sync>;

impl UpstreamError {
    /// A short, stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Tls(_) => "tls",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::UpstreamClosed(_) => "upstream_closed",
            UpstreamError::Io(_) => "io",
            UpstreamError::InvalidRequest(_) => "invalid_request",
            UpstreamError::Other(_) => "other",
        }
    }

    /// Whether the request certainly never reached the upstream, so that
    /// sending it again cannot do anything twice.
    pub fn request_not_sent(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect(_) | UpstreamError::Tls(_) | UpstreamError::InvalidRequest(_)
        )
    }
}

/// An error a layer can look into, to classify it by type without
/// taking it: the stack's [`BoxError`], the connector's [`UpstreamError`],
/// `std::io::Error`, and `Infallible` are; a service with its own error
/// type implements it in three lines (`Some(self)` for a
/// `std::error::Error`). Layers that only watch errors (metrics) keep the
/// inner service's error type with it, instead of boxing it.
///
/// ```
/// use llm_layers_core::error::{InspectError, BoxError, UpstreamError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("mine")]
/// struct MyError;
/// impl InspectError for MyError {
///     fn as_std_error(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(self)
///     }
/// }
/// let boxed: BoxError = UpstreamError::Timeout("slow".into()).into();
/// let found = boxed.as_std_error().and_then(llm_layers_core::find_upstream_error);
/// assert_eq!(found.map(UpstreamError::kind), Some("timeout"));
/// assert!(MyError.as_std_error().is_some());
/// ```
pub trait InspectError {
    /// The error as a `std::error::Error`, whose source chain can be
    /// searched; `None` when there is nothing to look into.
    fn as_std_error(&self) -> Option<&(dyn StdError + 'static)>;
}

impl InspectError for BoxError {
    fn as_std_error(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&**self)
    }
}

impl InspectError for Box<dyn StdError + Send + 'static> {
    fn as_std_error(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&**self)
    }
}

impl InspectError for Box<dyn StdError + 'static> {
    fn as_std_error(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&**self)
    }
}

impl InspectError for UpstreamError {
    fn as_std_error(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self)
    }
}

impl InspectError for std::io::Error {
    fn as_std_error(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self)
    }
}

impl InspectError for std::convert::Infallible {
    fn as_std_error(&self) -> Option<&(dyn StdError + 'static)> {
        match *self {}
    }
}

/// The first [`UpstreamError`] in `error`'s source chain, `error` included.
pub fn find_upstream_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a UpstreamError> {
    find_in_chain(error)
}

/// The first error of type `T` in `error`'s source chain, `error` included.
pub fn find_in_chain<'a, T: StdError + 'static>(
    error: &'a (dyn StdError + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(candidate) = current {
        if let Some(found) = candidate.downcast_ref::<T>() {
            return Some(found);
        }
        current = candidate.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapper(#[source] UpstreamError);

    #[test]
    fn found_through_wrappers() {
        let error = Wrapper(UpstreamError::Timeout("slow".into()));
        let found = find_upstream_error(&error).unwrap();
        assert_eq!(found.kind(), "timeout");
        assert!(!found.request_not_sent());
        assert!(find_upstream_error(&std::io::Error::other("x")).is_none());
    }
}
