//! Whether an answer is whole: the rule a cache applies before it stores
//! anything.
//!
//! An answer is whole when its status is 2xx, its body reached its end,
//! and the body says it is whole: a stream ended with the provider's own
//! end marker (`data: [DONE]`, `message_stop`, `response.completed`, a
//! Gemini chunk with `finishReason`), or a plain body is complete, valid
//! JSON of the declared `Content-Length`. Anything else is [`Incomplete`],
//! with the reason.
//!
//! ```
//! use llm_layers_core::completeness::{check_plain_body, check_stream, Incomplete};
//! use llm_layers_core::StreamCompletion;
//!
//! assert_eq!(check_plain_body(br#"{"id":"x"}"#, Some(10)), Ok(()));
//! assert_eq!(check_plain_body(br#"{"id":"#, None), Err(Incomplete::InvalidJson));
//! assert_eq!(check_plain_body(br#"{"id":"x"}"#, Some(99)), Err(Incomplete::LengthMismatch));
//! assert_eq!(check_stream(StreamCompletion::Open), Err(Incomplete::NoEndMarker));
//! assert_eq!(check_stream(StreamCompletion::Completed), Ok(()));
//! ```

use crate::api::ApiKind;
use crate::usage::{StreamCompletion, Usage};

/// Why an answer is not whole (and so is never stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Incomplete {
    /// The status is not 2xx.
    Status,
    /// The body failed (connection reset, cut inside a chunk, a timeout).
    BodyError,
    /// Nobody read the body to its end.
    Dropped,
    /// The body is larger than an entry may be.
    TooLarge,
    /// A stream ended without the provider's end marker.
    NoEndMarker,
    /// The stream carried an error event (or a failed/incomplete response).
    StreamError,
    /// A plain body is not complete, valid JSON.
    InvalidJson,
    /// A plain body's length differs from its `Content-Length`.
    LengthMismatch,
    /// The upstream said not to store it (`no-store`, `private`).
    Forbidden,
}

impl Incomplete {
    /// Every reason, in a fixed order.
    pub const ALL: [Incomplete; 9] = [
        Incomplete::Status,
        Incomplete::BodyError,
        Incomplete::Dropped,
        Incomplete::TooLarge,
        Incomplete::NoEndMarker,
        Incomplete::StreamError,
        Incomplete::InvalidJson,
        Incomplete::LengthMismatch,
        Incomplete::Forbidden,
    ];

    /// The reason as a metric label and stats key.
    pub fn as_str(self) -> &'static str {
        match self {
            Incomplete::Status => "status",
            Incomplete::BodyError => "body_error",
            Incomplete::Dropped => "dropped",
            Incomplete::TooLarge => "too_large",
            Incomplete::NoEndMarker => "no_end_marker",
            Incomplete::StreamError => "stream_error",
            Incomplete::InvalidJson => "invalid_json",
            Incomplete::LengthMismatch => "length_mismatch",
            Incomplete::Forbidden => "forbidden",
        }
    }

    /// This reason's place in [`Incomplete::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream is whole when its end marker came and no error event did.
pub fn check_stream(completion: StreamCompletion) -> Result<(), Incomplete> {
    match completion {
        StreamCompletion::Completed => Ok(()),
        StreamCompletion::Open => Err(Incomplete::NoEndMarker),
        StreamCompletion::Failed => Err(Incomplete::StreamError),
    }
}

/// A plain body is whole when it has its declared length (if one was
/// declared) and is one complete JSON value.
pub fn check_plain_body(body: &[u8], declared_length: Option<u64>) -> Result<(), Incomplete> {
    if declared_length.is_some_and(|declared| declared != body.len() as u64) {
        return Err(Incomplete::LengthMismatch);
    }
    // The one validating scanner every reader of JSON bodies uses (serde's
    // skipping of a value checks neither UTF-8 nor `\u` escapes).
    match crate::json::scan::is_valid(body) {
        true => Ok(()),
        false => Err(Incomplete::InvalidJson),
    }
}

/// [`check_plain_body`] and the answer's token counts as
/// [`crate::usage::token_usage_from_json`] reads them, in one reading of
/// the body: the validating scan notes where the top-level `usage` member
/// is, so the counts are read without looking for it again.
///
/// ```
/// use llm_layers_core::completeness::{check_plain_answer, Incomplete};
/// use llm_layers_core::ApiKind;
///
/// let body = br#"{"id":"x","usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
/// let usage = check_plain_answer(body, None, ApiKind::OpenAiChat).unwrap().unwrap();
/// assert_eq!((usage.input_tokens, usage.output_tokens), (12, 3));
/// let cut = &body[..body.len() - 1];
/// assert_eq!(check_plain_answer(cut, None, ApiKind::OpenAiChat), Err(Incomplete::InvalidJson));
/// ```
pub fn check_plain_answer(
    body: &[u8],
    declared_length: Option<u64>,
    kind: ApiKind,
) -> Result<Option<Usage>, Incomplete> {
    if declared_length.is_some_and(|declared| declared != body.len() as u64) {
        return Err(Incomplete::LengthMismatch);
    }
    match crate::json::scan::valid_with_member(body, b"\"usage\"") {
        Some(usage) => Ok(crate::usage::token_usage_of_member(kind, body, usage)),
        None => Err(Incomplete::InvalidJson),
    }
}

/// The `Content-Length` a response head declares, if valid.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_and_padded_json_is_refused() {
        let whole = br#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1}}"#;
        assert_eq!(check_plain_body(whole, None), Ok(()));
        for cut in 1..whole.len() {
            assert!(
                check_plain_body(&whole[..cut], None).is_err(),
                "cut at {cut} accepted"
            );
        }
        assert_eq!(
            check_plain_body(b"{} {}", None),
            Err(Incomplete::InvalidJson)
        );
        assert_eq!(check_plain_body(b" {}\n", Some(4)), Ok(()));
        assert_eq!(check_plain_body(b"", None), Err(Incomplete::InvalidJson));
        // Found by the fuzzer: a string holding bytes that are not UTF-8.
        assert_eq!(
            check_plain_body(b"\";\xe1\"", None),
            Err(Incomplete::InvalidJson)
        );
        // Found by the fuzzer: an escape cut short inside a whole document.
        assert_eq!(
            check_plain_body(br#"["\u12"]"#, None),
            Err(Incomplete::InvalidJson)
        );
    }

    #[test]
    fn reasons_have_distinct_names_and_indices() {
        for (at, reason) in Incomplete::ALL.iter().enumerate() {
            assert_eq!(reason.index(), at);
        }
        let mut names: Vec<_> = Incomplete::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Incomplete::ALL.len());
    }
}
