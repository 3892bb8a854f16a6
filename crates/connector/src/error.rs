//! Typed errors, so that the metrics and resilience layers can classify a
//! failure without matching strings.

use std::error::Error as StdError;

/// What went wrong on the way to the provider.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
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

impl ConnectorError {
    /// A short, stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorError::Connect(_) => "connect",
            ConnectorError::Tls(_) => "tls",
            ConnectorError::Timeout(_) => "timeout",
            ConnectorError::UpstreamClosed(_) => "upstream_closed",
            ConnectorError::Io(_) => "io",
            ConnectorError::InvalidRequest(_) => "invalid_request",
            ConnectorError::Other(_) => "other",
        }
    }

    /// Whether the request certainly never reached the upstream, so that
    /// sending it again cannot do anything twice.
    pub fn request_not_sent(&self) -> bool {
        matches!(
            self,
            ConnectorError::Connect(_) | ConnectorError::Tls(_) | ConnectorError::InvalidRequest(_)
        )
    }
}

/// The connector's own failure while opening a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("tcp: {0}")]
    Tcp(#[source] BoxError),
    #[error("tls: {0}")]
    Tls(#[source] std::io::Error),
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("invalid uri: {0}")]
    InvalidUri(String),
}

/// Sorts the legacy client's error into a [`ConnectorError`].
pub(crate) fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if let Some(connect) = find::<ConnectError>(&error) {
        return match connect {
            ConnectError::Tls(_) => ConnectorError::Tls(error.into()),
            ConnectError::Timeout(_) => ConnectorError::Timeout(error.into()),
            ConnectError::InvalidUri(_) => ConnectorError::InvalidRequest(error.into()),
            ConnectError::Tcp(_) => match find::<std::io::Error>(&error) {
                Some(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                    ConnectorError::Timeout(error.into())
                }
                _ => ConnectorError::Connect(error.into()),
            },
        };
    }
    if error.is_connect() {
        return ConnectorError::Connect(error.into());
    }
    if let Some(hyper_error) = find::<hyper::Error>(&error) {
        if hyper_error.is_timeout() {
            return ConnectorError::Timeout(error.into());
        }
        if hyper_error.is_incomplete_message()
            || hyper_error.is_closed()
            || hyper_error.is_canceled()
        {
            return ConnectorError::UpstreamClosed(error.into());
        }
    }
    if let Some(h2_error) = find::<h2::Error>(&error) {
        // The server reset the stream or went away: HTTP/2's way of closing.
        if h2_error.is_remote() && (h2_error.is_reset() || h2_error.is_go_away()) {
            return ConnectorError::UpstreamClosed(error.into());
        }
    }
    if find::<std::io::Error>(&error).is_some() {
        return ConnectorError::Io(error.into());
    }
    if find::<http::Error>(&error).is_some() || find::<http::uri::InvalidUri>(&error).is_some() {
        return ConnectorError::InvalidRequest(error.into());
    }
    ConnectorError::Other(error.into())
}

/// The first error of type `T` in `error`'s source chain.
fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(candidate) = current {
        if let Some(found) = candidate.downcast_ref::<T>() {
            return Some(found);
        }
        current = candidate.source();
    }
    None
}
