//! Whether an attempt's outcome is worth another attempt, and why: decided
//! without I/O from the status, the error body of a 429, or the error's
//! type.

use http::StatusCode;
use llm_layers_core::error::{find_in_chain, find_upstream_error};
use llm_layers_core::UpstreamError;

/// Why an attempt is tried again; the label of `llm_retries_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryReason {
    /// 429.
    RateLimited,
    /// 503 or 529: the provider is overloaded.
    Overloaded,
    /// 500, 502 or 504 (a gateway's or our own timeout's).
    ServerError,
    /// 408 or 409 (a request timeout, a conflict the provider asks to retry).
    Conflict,
    /// The connection failed or closed before the answer's head.
    Connection,
    /// The upstream did not answer in time.
    Timeout,
    /// The answer's body failed before its first byte reached the caller.
    StreamFailed,
}

impl RetryReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::RateLimited => "rate_limited",
            RetryReason::Overloaded => "overloaded",
            RetryReason::ServerError => "server_error",
            RetryReason::Conflict => "conflict",
            RetryReason::Connection => "connection",
            RetryReason::Timeout => "timeout",
            RetryReason::StreamFailed => "stream_failed",
        }
    }
}

/// Why a status may be retried; `None` for a final one.
pub(crate) fn status_reason(status: StatusCode) -> Option<RetryReason> {
    match status.as_u16() {
        429 => Some(RetryReason::RateLimited),
        503 | 529 => Some(RetryReason::Overloaded),
        500 | 502 | 504 => Some(RetryReason::ServerError),
        408 | 409 => Some(RetryReason::Conflict),
        _ => None,
    }
}

/// A 429 that no wait will cure: the account is out of quota (OpenAI's
/// `insufficient_quota`, in the error's type or code).
pub(crate) fn is_permanent_rate_limit(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"insufficient_quota").is_some()
}

/// Why a failure may be retried; `None` for one that would fail again (an
/// invalid request, a TLS or certificate error, anything unknown).
pub(crate) fn error_reason(error: &(dyn std::error::Error + 'static)) -> Option<RetryReason> {
    if let Some(upstream) = find_upstream_error(error) {
        return match upstream {
            UpstreamError::Connect(_) | UpstreamError::UpstreamClosed(_) | UpstreamError::Io(_) => {
                Some(RetryReason::Connection)
            }
            UpstreamError::Timeout(_) => Some(RetryReason::Timeout),
            UpstreamError::Tls(_) | UpstreamError::InvalidRequest(_) | UpstreamError::Other(_) => {
                None
            }
        };
    }
    if find_in_chain::<tower::timeout::error::Elapsed>(error).is_some() {
        return Some(RetryReason::Timeout);
    }
    match find_in_chain::<std::io::Error>(error)?.kind() {
        std::io::ErrorKind::TimedOut => Some(RetryReason::Timeout),
        std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::ConnectionRefused
        | std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::UnexpectedEof => Some(RetryReason::Connection),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_and_the_rest() {
        for code in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(
                status_reason(StatusCode::from_u16(code).unwrap()).is_some(),
                "{code}"
            );
        }
        for code in [200, 400, 401, 403, 404, 413, 422, 501] {
            assert!(
                status_reason(StatusCode::from_u16(code).unwrap()).is_none(),
                "{code}"
            );
        }
    }

    #[test]
    fn quota_errors_are_permanent() {
        assert!(is_permanent_rate_limit(
            br#"{"error":{"type":"insufficient_quota","code":"insufficient_quota"}}"#
        ));
        assert!(!is_permanent_rate_limit(
            br#"{"error":{"type":"rate_limit_error"}}"#
        ));
    }

    #[test]
    fn connection_failures_retry_and_bad_requests_do_not() {
        let reason = |error: UpstreamError| error_reason(&error);
        assert_eq!(
            reason(UpstreamError::Connect("refused".into())),
            Some(RetryReason::Connection)
        );
        assert_eq!(
            reason(UpstreamError::Timeout("slow".into())),
            Some(RetryReason::Timeout)
        );
        assert_eq!(
            reason(UpstreamError::InvalidRequest("no host".into())),
            None
        );
        assert_eq!(reason(UpstreamError::Tls("bad certificate".into())), None);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(error_reason(&reset), Some(RetryReason::Connection));
        assert_eq!(error_reason(&std::io::Error::other("odd")), None);
    }
}
