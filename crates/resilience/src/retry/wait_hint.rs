//! How long a provider asks callers to wait before trying again, from its
//! answer's headers:
//!
//! | header | form | from |
//! |---|---|---|
//! | `retry-after-ms` | milliseconds | OpenAI, Azure |
//! | `retry-after` | seconds, or an HTTP date | everyone |
//! | `x-ratelimit-reset-requests`, `x-ratelimit-reset-tokens` | a Go duration (`1s`, `6m0s`, `20ms`, `1.5s`) | OpenAI |
//!
//! The first that parses wins, in that order; the two OpenAI resets count
//! only on a 429 (on other answers they describe the quota, not a wait),
//! and the later of them is taken.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// The wait the headers ask for; `now` reads an HTTP date. Absurd values
/// (over a day) are ignored, as a missing header would be.
pub fn wait_hint(headers: &HeaderMap, rate_limited: bool, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let hint = text("retry-after-ms")
        .and_then(|ms| ms.trim().parse::<f64>().ok())
        .and_then(|ms| seconds(ms / 1000.0))
        .or_else(|| text("retry-after").and_then(|value| retry_after(value, now)))
        .or_else(|| {
            if !rate_limited {
                return None;
            }
            let requests = text("x-ratelimit-reset-requests").and_then(go_duration);
            let tokens = text("x-ratelimit-reset-tokens").and_then(go_duration);
            requests.max(tokens)
        })?;
    (hint <= Duration::from_secs(86_400)).then_some(hint)
}

/// `retry-after`: whole seconds, or an HTTP date (a date in the past is no
/// wait).
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A non-negative, finite number of seconds.
fn seconds(value: f64) -> Option<Duration> {
    (0.0..1e9)
        .contains(&value)
        .then(|| Duration::from_secs_f64(value))
}

/// A Go `time.Duration` as OpenAI prints it (`1s`, `6m0s`, `20ms`,
/// `1.5s`), read by humantime (which also takes spaced and long forms);
/// `None` for anything else or beyond a billion seconds.
pub fn go_duration(text: &str) -> Option<Duration> {
    let duration = humantime::parse_duration(text.trim()).ok()?;
    (duration < Duration::from_secs(1_000_000_000)).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;
    use proptest::prelude::*;

    #[test]
    fn go_durations_as_openai_prints_them() {
        assert_eq!(go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(go_duration("0s"), Some(Duration::ZERO));
        assert_eq!(go_duration("2µs"), Some(Duration::from_micros(2)));
        for bad in ["", "s", "1x", "-1s", "1..2s", ".s"] {
            assert_eq!(go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_first_header_that_parses_wins() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let hint = |pairs: &[(&str, &str)], limited: bool| wait_hint(&headers(pairs), limited, now);
        assert_eq!(
            hint(&[("retry-after", "3")], false),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            hint(&[("retry-after-ms", "250"), ("retry-after", "3")], false),
            Some(Duration::from_millis(250))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            hint(&[("retry-after", &date)], false),
            Some(Duration::from_secs(7))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(hint(&[("retry-after", &past)], false), Some(Duration::ZERO));
        let resets = [
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ];
        assert_eq!(hint(&resets, true), Some(Duration::from_secs(360)));
        assert_eq!(
            hint(&resets, false),
            None,
            "resets are a wait only on a 429"
        );
        assert_eq!(hint(&[("retry-after", "soon")], false), None);
        assert_eq!(hint(&[("retry-after", "999999999")], false), None, "absurd");
    }

    proptest! {
        #[test]
        fn printed_durations_read_back(hours in 0u64..5, minutes in 0u64..60, millis in 0u64..60_000) {
            let text = format!("{hours}h{minutes}m{}.{:03}s", millis / 1000, millis % 1000);
            let expected = Duration::from_millis(((hours * 60 + minutes) * 60_000) + millis);
            let read = go_duration(&text).unwrap();
            prop_assert!(read.abs_diff(expected) < Duration::from_micros(1), "{} {:?}", text, read);
        }

        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in ".{0,24}") {
            if let Some(duration) = go_duration(&text) {
                prop_assert!(duration <= Duration::from_secs(1_000_000_000));
            }
        }
    }
}
