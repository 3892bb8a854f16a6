//! Sorting the pool's errors (opening a connection, hyper's) into the
//! core's [`UpstreamError`] kinds.

use llm_layers_core::error::find_in_chain as find;
pub use llm_layers_core::error::{BoxError, UpstreamError};

/// The connector's error: the core's transport error taxonomy.
pub type ConnectorError = UpstreamError;

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
    #[error("handshake: {0}")]
    Handshake(#[source] hyper::Error),
}

/// Sorts an error of the pool into a [`ConnectorError`].
pub(crate) fn classify(error: impl Into<BoxError>) -> ConnectorError {
    let error: BoxError = error.into();
    let kind = kind_of(&*error);
    kind(error)
}

/// The [`ConnectorError`] variant an error belongs to.
fn kind_of(error: &(dyn std::error::Error + 'static)) -> fn(BoxError) -> ConnectorError {
    if let Some(connect) = find::<ConnectError>(error) {
        return match connect {
            ConnectError::Tls(_) => ConnectorError::Tls,
            ConnectError::Timeout(_) => ConnectorError::Timeout,
            ConnectError::InvalidUri(_) => ConnectorError::InvalidRequest,
            ConnectError::Handshake(_) => ConnectorError::Connect,
            ConnectError::Tcp(_) => match find::<std::io::Error>(error) {
                Some(io) if io.kind() == std::io::ErrorKind::TimedOut => ConnectorError::Timeout,
                _ => ConnectorError::Connect,
            },
        };
    }
    if let Some(hyper_error) = find::<hyper::Error>(error) {
        if hyper_error.is_timeout() {
            return ConnectorError::Timeout;
        }
        if hyper_error.is_incomplete_message()
            || hyper_error.is_closed()
            || hyper_error.is_canceled()
        {
            return ConnectorError::UpstreamClosed;
        }
    }
    if let Some(h2_error) = find::<h2::Error>(error) {
        // The server reset the stream or went away: HTTP/2's way of closing.
        if h2_error.is_remote() && (h2_error.is_reset() || h2_error.is_go_away()) {
            return ConnectorError::UpstreamClosed;
        }
    }
    if find::<std::io::Error>(error).is_some() {
        return ConnectorError::Io;
    }
    if find::<http::Error>(error).is_some() || find::<http::uri::InvalidUri>(error).is_some() {
        return ConnectorError::InvalidRequest;
    }
    ConnectorError::Other
}
