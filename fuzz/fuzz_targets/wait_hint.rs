//! The retry layer's reading of a provider's wait headers from arbitrary
//! bytes: never panics, never asks for more than a day, a Go duration
//! never reads back longer than its own largest possible value, and a
//! wait read from `retry-after-ms` is the one `retry-after` cannot beat.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use llm_layers_resilience::retry::{go_duration, wait_hint};

fuzz_target!(|input: (u8, &[u8], &[u8])| {
    let (which, first, second) = input;
    if let Ok(text) = std::str::from_utf8(first) {
        if let Some(duration) = go_duration(text) {
            assert!(duration <= Duration::from_secs(1_000_000_000));
        }
    }
    let names = [
        "retry-after",
        "retry-after-ms",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
    ];
    let mut headers = http::HeaderMap::new();
    for (index, value) in [first, second].into_iter().enumerate() {
        let name = names[(usize::from(which) + index) % names.len()];
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for rate_limited in [false, true] {
        if let Some(wait) = wait_hint(&headers, rate_limited, now) {
            assert!(wait <= Duration::from_secs(86_400));
        }
    }
});
