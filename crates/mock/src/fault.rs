//! Faults the mock can inject, per request (the `x-mock-fault` header) or
//! for every request (the server's configuration).

use std::str::FromStr;

/// Request header naming the fault to inject into that request.
pub const FAULT_HEADER: &str = "x-mock-fault";
/// Request header with the `retry-after` seconds a 429 carries (default 1).
pub const RETRY_AFTER_HEADER: &str = "x-mock-retry-after";
/// Request header overriding the time to first byte, in milliseconds.
pub const LATENCY_HEADER: &str = "x-mock-latency-ms";
/// Request header limiting the request's fault to the first N requests
/// that carry the same fault and the same body (or the same
/// [`FAULT_KEY_HEADER`]): a deterministic "fail twice, then answer".
pub const FAULT_TIMES_HEADER: &str = "x-mock-fault-times";
/// Request header setting the remaining requests an answer reports
/// (`x-ratelimit-remaining-requests`, `anthropic-ratelimit-requests-remaining`;
/// 9999 without it), to test rate-limit awareness.
pub const REMAINING_REQUESTS_HEADER: &str = "x-mock-remaining-requests";
/// Request header setting, in milliseconds, when that quota resets
/// (default 1000).
pub const RESET_MS_HEADER: &str = "x-mock-ratelimit-reset-ms";
/// Request header limiting the request's fault to a share of the requests
/// carrying the same fault and share (`0.25`: every fourth), spread evenly
/// and deterministically.
pub const FAULT_SHARE_HEADER: &str = "x-mock-fault-share";
/// Request header naming the schedule [`FAULT_TIMES_HEADER`] counts in,
/// instead of the body.
pub const FAULT_KEY_HEADER: &str = "x-mock-fault-key";

/// One injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `retry-after` (`429` or `rate_limit`).
    RateLimit,
    /// 429 whose error is `insufficient_quota`, OpenAI's permanent
    /// "you exceeded your current quota" (`insufficient_quota`).
    InsufficientQuota,
    /// 500 (`500`).
    ServerError,
    /// 503 (`503`).
    Unavailable,
    /// 529, Anthropic's "overloaded" (`529` or `overloaded`).
    Overloaded,
    /// The connection is closed without a response (`reset`).
    Reset,
    /// The response starts, then the connection is cut half-way through the
    /// body (`cut`).
    Cut,
    /// The response starts, then stops sending half-way and never ends
    /// (`stall`).
    Stall,
}

/// A fault name that is not one of the above.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown fault {0:?}: expected 429, insufficient_quota, 500, 503, 529, reset, cut or stall"
)]
pub struct UnknownFault(String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text.trim() {
            "429" | "rate_limit" => Fault::RateLimit,
            "insufficient_quota" => Fault::InsufficientQuota,
            "500" | "server_error" => Fault::ServerError,
            "503" | "unavailable" => Fault::Unavailable,
            "529" | "overloaded" => Fault::Overloaded,
            "reset" => Fault::Reset,
            "cut" => Fault::Cut,
            "stall" => Fault::Stall,
            other => return Err(UnknownFault(other.to_owned())),
        })
    }
}

impl Fault {
    /// The HTTP status of a fault answered with an error response.
    pub fn status(self) -> Option<u16> {
        match self {
            Fault::RateLimit | Fault::InsufficientQuota => Some(429),
            Fault::ServerError => Some(500),
            Fault::Unavailable => Some(503),
            Fault::Overloaded => Some(529),
            Fault::Reset | Fault::Cut | Fault::Stall => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_codes() {
        assert_eq!("429".parse::<Fault>().unwrap(), Fault::RateLimit);
        assert_eq!("overloaded".parse::<Fault>().unwrap(), Fault::Overloaded);
        assert_eq!("stall".parse::<Fault>().unwrap(), Fault::Stall);
        assert!("418".parse::<Fault>().is_err());
    }
}
