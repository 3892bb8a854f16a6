//! What an answer's rate-limit headers say about the quota left, decided
//! without I/O:
//!
//! | provider | remaining | reset |
//! |---|---|---|
//! | OpenAI | `x-ratelimit-remaining-requests`, `-tokens` | `x-ratelimit-reset-requests`, `-tokens`: a Go duration (`6m0s`) |
//! | Anthropic | `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-remaining` | `anthropic-ratelimit-…-reset`: an RFC 3339 time |
//!
//! When any remaining count is zero, the quota is spent until the latest
//! of those counts' resets (a second when a reset is missing or unread).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName};

use crate::retry::go_duration;

/// The quota counts a provider reports: (remaining header, reset header,
/// how the reset is written).
const COUNTS: [(HeaderName, HeaderName, ResetForm); 6] = [
    (
        HeaderName::from_static("x-ratelimit-remaining-requests"),
        HeaderName::from_static("x-ratelimit-reset-requests"),
        ResetForm::GoDuration,
    ),
    (
        HeaderName::from_static("x-ratelimit-remaining-tokens"),
        HeaderName::from_static("x-ratelimit-reset-tokens"),
        ResetForm::GoDuration,
    ),
    (
        HeaderName::from_static("anthropic-ratelimit-requests-remaining"),
        HeaderName::from_static("anthropic-ratelimit-requests-reset"),
        ResetForm::Rfc3339,
    ),
    (
        HeaderName::from_static("anthropic-ratelimit-tokens-remaining"),
        HeaderName::from_static("anthropic-ratelimit-tokens-reset"),
        ResetForm::Rfc3339,
    ),
    (
        HeaderName::from_static("anthropic-ratelimit-input-tokens-remaining"),
        HeaderName::from_static("anthropic-ratelimit-input-tokens-reset"),
        ResetForm::Rfc3339,
    ),
    (
        HeaderName::from_static("anthropic-ratelimit-output-tokens-remaining"),
        HeaderName::from_static("anthropic-ratelimit-output-tokens-reset"),
        ResetForm::Rfc3339,
    ),
];

#[derive(Clone, Copy)]
enum ResetForm {
    GoDuration,
    Rfc3339,
}

/// The longest a spent quota is believed to last.
const LONGEST: Duration = Duration::from_secs(3600);

/// How long the quota these headers describe stays spent; `None` when no
/// remaining count is zero (or none is reported).
pub fn spent_for(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    // Most answers (every one of a provider that reports no quota) carry
    // none of these: one pass over the names rules them all out.
    let reports_quota = headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("x-ratelimit-") || name.starts_with("anthropic-ratelimit-")
    });
    if !reports_quota {
        return None;
    }
    let text = |name: &HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    COUNTS
        .iter()
        .filter(|(remaining, ..)| {
            text(remaining).and_then(|count| count.trim().parse::<u64>().ok()) == Some(0)
        })
        .map(|(_, reset, form)| {
            let reset = text(reset).and_then(|value| match form {
                ResetForm::GoDuration => go_duration(value),
                ResetForm::Rfc3339 => humantime::parse_rfc3339_weak(value.trim())
                    .ok()
                    .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO)),
            });
            reset.unwrap_or(Duration::from_secs(1)).min(LONGEST)
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    #[test]
    fn a_zero_count_spends_the_quota_until_its_reset() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let spent = |pairs: &[(&str, &str)]| spent_for(&headers(pairs), now);
        assert_eq!(spent(&[("x-ratelimit-remaining-requests", "9999")]), None);
        assert_eq!(
            spent(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "1.5s"),
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ]),
            Some(Duration::from_secs(360)),
            "the later reset"
        );
        let at = humantime::format_rfc3339(now + Duration::from_secs(20)).to_string();
        assert_eq!(
            spent(&[
                ("anthropic-ratelimit-tokens-remaining", "0"),
                ("anthropic-ratelimit-tokens-reset", &at),
                ("anthropic-ratelimit-requests-remaining", "12"),
            ]),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            spent(&[("x-ratelimit-remaining-requests", "0")]),
            Some(Duration::from_secs(1)),
            "no reset: a second"
        );
        assert_eq!(
            spent(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "900h"),
            ]),
            Some(LONGEST)
        );
    }
}
