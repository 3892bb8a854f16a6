//! Following an answer: the latest usage, and whether it is whole (a
//! stream ended with the provider's end marker, or a whole body read).
//! Each provider's stream events are read in its own file.

use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::{StreamCompletion, Usage};
use crate::api::ApiKind;
use crate::sse::SseEvent;

/// Follows an answer, keeping the latest usage and whether it ended
/// normally: a stream event by event ([`UsageTracker::observe`]), or a
/// whole body at once ([`UsageTracker::of_body`]).
#[derive(Clone, Debug)]
pub struct UsageTracker {
    pub(super) kind: ApiKind,
    pub(super) usage: Option<Usage>,
    pub(super) completion: StreamCompletion,
}

impl UsageTracker {
    /// Follows a stream of the given API.
    pub fn new(kind: ApiKind) -> Self {
        UsageTracker {
            kind,
            usage: None,
            completion: StreamCompletion::Open,
        }
    }

    /// The usage seen so far (complete once the stream has ended).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// How the stream has ended so far.
    pub fn completion(&self) -> StreamCompletion {
        self.completion
    }

    /// The result of reading a whole (non-streamed) body: its usage, and
    /// complete by definition.
    pub fn of_body(kind: ApiKind, usage: Option<Usage>) -> Self {
        UsageTracker {
            kind,
            usage,
            completion: StreamCompletion::Completed,
        }
    }

    /// Records how the stream ended; a failure is final (a `[DONE]` after
    /// an error event does not make the stream whole).
    pub(super) fn settle(&mut self, completion: StreamCompletion) {
        if self.completion != StreamCompletion::Failed {
            self.completion = completion;
        }
    }

    /// Takes one event into account.
    pub fn observe(&mut self, event: &SseEvent) {
        match self.kind {
            ApiKind::OpenAiChat | ApiKind::OpenAiCompletions => self.observe_openai_chat(event),
            ApiKind::OpenAiResponses => self.observe_openai_responses(event),
            ApiKind::AnthropicMessages => self.observe_anthropic(event),
            ApiKind::GeminiGenerateContent => self.observe_gemini(event),
            ApiKind::OpenAiEmbeddings | ApiKind::Unknown => {}
        }
    }
}

pub(super) static USAGE_MEMBER: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"usage\""));
pub(super) static GEMINI_FINISH: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"finishReason\""));

/// OpenAI reports a mid-stream failure as an event whose data is
/// `{"error": {…}}`: checked by its first member, without a search.
pub(super) fn starts_with_error_member(data: &[u8]) -> bool {
    let trimmed = data.trim_ascii_start();
    trimmed
        .strip_prefix(b"{")
        .is_some_and(|rest| rest.trim_ascii_start().starts_with(b"\"error\""))
}

/// True when `data` contains the member `name` followed by a colon and an
/// object (`"usage": {`), without parsing the JSON.
pub(super) fn has_object_member(data: &[u8], name: &Finder<'_>) -> bool {
    let skip = name.needle().len();
    let mut from = 0;
    // `find` in a loop: cheaper than building a `FindIter` for every event.
    while let Some(found) = name.find(&data[from..]) {
        let after = from + found + skip;
        let mut rest = data[after..]
            .iter()
            .copied()
            .skip_while(u8::is_ascii_whitespace);
        if rest.next() == Some(b':') && rest.find(|b| !b.is_ascii_whitespace()) == Some(b'{') {
            return true;
        }
        from = after;
    }
    false
}
