//! Error kinds, from a response status or a failure's type.

use llm_layers_core::{find_upstream_error, UpstreamError};

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// 429.
    RateLimit,
    /// 503 or 529 (Anthropic's "overloaded").
    Overloaded,
    /// Any other 5xx.
    Server,
    /// Any other 4xx.
    Client,
    /// A timeout (connect, TLS, response head, or a tower timeout).
    Timeout,
    /// The connection could not be made (TCP or TLS).
    Connect,
    /// The upstream closed the connection before the response head.
    UpstreamClosed,
    /// The response body failed mid-way.
    StreamAborted,
    /// The provider reported an error inside a 200 stream.
    StreamError,
    /// The caller dropped the response body before its end.
    Cancelled,
    /// Any other failure.
    Other,
}

/// Every kind, in label order.
pub(crate) const ERROR_KINDS: [ErrorKind; 11] = [
    ErrorKind::RateLimit,
    ErrorKind::Overloaded,
    ErrorKind::Server,
    ErrorKind::Client,
    ErrorKind::Timeout,
    ErrorKind::Connect,
    ErrorKind::UpstreamClosed,
    ErrorKind::StreamAborted,
    ErrorKind::StreamError,
    ErrorKind::Cancelled,
    ErrorKind::Other,
];

impl ErrorKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Server => "server",
            ErrorKind::Client => "client",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::UpstreamClosed => "upstream_closed",
            ErrorKind::StreamAborted => "stream_aborted",
            ErrorKind::StreamError => "stream_error",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The kind of an error response status; `None` for success.
    pub fn from_status(status: http::StatusCode) -> Option<ErrorKind> {
        match status.as_u16() {
            429 => Some(ErrorKind::RateLimit),
            503 | 529 => Some(ErrorKind::Overloaded),
            500..=599 => Some(ErrorKind::Server),
            400..=499 => Some(ErrorKind::Client),
            _ => None,
        }
    }

    /// The kind of a failure returned instead of a response.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> ErrorKind {
        if let Some(upstream) = find_upstream_error(error) {
            return match upstream {
                UpstreamError::Connect(_) | UpstreamError::Tls(_) => ErrorKind::Connect,
                UpstreamError::Timeout(_) => ErrorKind::Timeout,
                UpstreamError::UpstreamClosed(_) | UpstreamError::Io(_) => {
                    ErrorKind::UpstreamClosed
                }
                UpstreamError::InvalidRequest(_) => ErrorKind::Client,
                UpstreamError::Other(_) => ErrorKind::Other,
            };
        }
        if llm_layers_core::error::find_in_chain::<tower::timeout::error::Elapsed>(error).is_some()
        {
            return ErrorKind::Timeout;
        }
        match llm_layers_core::error::find_in_chain::<std::io::Error>(error) {
            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let kind = |code: u16| ErrorKind::from_status(http::StatusCode::from_u16(code).unwrap());
        assert_eq!(kind(200), None);
        assert_eq!(kind(429), Some(ErrorKind::RateLimit));
        assert_eq!(kind(529), Some(ErrorKind::Overloaded));
        assert_eq!(kind(503), Some(ErrorKind::Overloaded));
        assert_eq!(kind(502), Some(ErrorKind::Server));
        assert_eq!(kind(401), Some(ErrorKind::Client));
        assert!(ERROR_KINDS.iter().enumerate().all(|(i, k)| k.index() == i));
    }

    #[test]
    fn errors_by_type() {
        assert_eq!(
            ErrorKind::from_error(&tower::timeout::error::Elapsed::new()),
            ErrorKind::Timeout
        );
        let upstream = UpstreamError::Connect("refused".into());
        assert_eq!(ErrorKind::from_error(&upstream), ErrorKind::Connect);
        assert_eq!(
            ErrorKind::from_error(&std::io::Error::other("x")),
            ErrorKind::Other
        );
    }
}
