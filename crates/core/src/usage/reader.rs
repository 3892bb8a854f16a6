//! Reading a response's token usage as its body goes by, parsing a stream
//! once however many layers want its usage.
//!
//! [`ResponseUsage::for_response`] looks at the response head and picks the
//! cheapest way: a failed status has no usage; a body whose usage an inner
//! layer already publishes (a [`PublishedUsage`] in the extensions) is
//! read from there; otherwise an SSE stream is parsed as it passes and a
//! JSON body is kept (reference-counted frames, up to a limit) and read once
//! at its end, and the result is published for the layers outside.
//!
//! ```
//! use bytes::Bytes;
//! use llm_layers_core::usage::ResponseUsage;
//! use llm_layers_core::ApiKind;
//!
//! let body = Bytes::from_static(
//!     br#"{"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#,
//! );
//! let mut response = http::Response::new(());
//! let mut reader = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut response, 1 << 20);
//! reader.on_data(&body);
//! let usage = reader.finish().unwrap();
//! assert_eq!((usage.input_tokens, usage.output_tokens), (12, 3));
//! ```

use bytes::Bytes;
use http::Response;

use crate::api::ApiKind;
use crate::sse::SseParser;
use crate::usage::{token_usage_from_json, PublishedUsage, StreamCompletion, Usage, UsageTracker};

/// Reads one response's usage; see the module documentation.
pub struct ResponseUsage {
    kind: ApiKind,
    stream: bool,
    mode: Mode,
}

enum Mode {
    /// This reader parses the stream and publishes the result.
    Parse {
        parser: SseParser,
        usage: UsageTracker,
        publish: PublishedUsage,
    },
    /// An inner layer parses the stream and publishes its result here.
    Shared(PublishedUsage),
    /// The body's frames (reference-counted, not copied) up to a limit.
    Json {
        frames: Vec<Bytes>,
        size: usize,
        limit: usize,
        overflowed: bool,
        publish: PublishedUsage,
    },
    /// The caller keeps the whole body and reads it at its end (see
    /// [`ResponseUsage::for_kept_response`]).
    Kept(PublishedUsage),
    /// Nothing to read.
    None,
}

impl ResponseUsage {
    /// Chooses how to read `response`'s usage. A stream nobody parses yet
    /// gets a [`PublishedUsage`] in its extensions, published when the
    /// body ends. A JSON body is kept up to `json_limit` bytes (0: not read).
    pub fn for_response<B>(kind: ApiKind, response: &mut Response<B>, json_limit: usize) -> Self {
        let stream = is_event_stream(response);
        let shared = response.extensions().get::<PublishedUsage>().cloned();
        let mode = match (response.status().is_success(), shared) {
            (false, _) => Mode::None,
            (true, Some(shared)) => Mode::Shared(shared),
            (true, None) if stream => Mode::Parse {
                parser: SseParser::new(),
                usage: UsageTracker::new(kind),
                publish: publish_in(response),
            },
            (true, None) if json_limit > 0 => Mode::Json {
                frames: Vec::new(),
                size: 0,
                limit: json_limit,
                overflowed: false,
                publish: publish_in(response),
            },
            (true, None) => Mode::None,
        };
        ResponseUsage { kind, stream, mode }
    }

    /// For a layer that keeps a plain answer whole anyway (a cache
    /// recording it): when the answer succeeded and declares a length of
    /// at most `keep_limit`, the layer reads its usage once at the end and
    /// hands it to [`ResponseUsage::finish_kept`], published for the layers
    /// outside, which then keep and read nothing. Otherwise as
    /// [`ResponseUsage::for_response`] with no JSON limit: a stream is
    /// parsed here.
    ///
    /// ```
    /// use llm_layers_core::completeness::check_plain_answer;
    /// use llm_layers_core::usage::ResponseUsage;
    /// use llm_layers_core::ApiKind;
    ///
    /// let body = br#"{"usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
    /// let mut response = http::Response::builder()
    ///     .header("content-length", body.len())
    ///     .body(())
    ///     .unwrap();
    /// let mut kept = ResponseUsage::for_kept_response(ApiKind::OpenAiChat, &mut response, 1024);
    /// assert!(kept.keeps_body());
    /// // A layer outside finds the reading published, and keeps nothing.
    /// let mut outside = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut response, 1 << 20);
    /// outside.on_data(&bytes::Bytes::from_static(body));
    /// kept.finish_kept(check_plain_answer(body, Some(body.len() as u64), ApiKind::OpenAiChat).unwrap());
    /// assert_eq!(outside.finish().unwrap().input_tokens, 12);
    /// ```
    pub fn for_kept_response<B>(
        kind: ApiKind,
        response: &mut Response<B>,
        keep_limit: usize,
    ) -> Self {
        let kept = response.status().is_success()
            && !is_event_stream(response)
            && response.extensions().get::<PublishedUsage>().is_none()
            && crate::completeness::declared_length(response.headers())
                .is_some_and(|length| length <= keep_limit as u64);
        if !kept {
            return ResponseUsage::for_response(kind, response, 0);
        }
        ResponseUsage {
            kind,
            stream: false,
            mode: Mode::Kept(publish_in(response)),
        }
    }

    /// Whether the caller reads the kept body (see
    /// [`ResponseUsage::for_kept_response`]).
    pub fn keeps_body(&self) -> bool {
        matches!(self.mode, Mode::Kept(_))
    }

    /// The API the answer belongs to.
    pub fn kind(&self) -> ApiKind {
        self.kind
    }

    /// Publishes the usage the caller read from the kept body (`None`:
    /// none, or the body was not kept whole). Only a kept reader publishes.
    pub fn finish_kept(&mut self, usage: Option<Usage>) {
        if let Mode::Kept(publish) = &self.mode {
            publish.publish(&UsageTracker::of_body(self.kind, usage));
        }
    }

    /// Whether the response is an SSE stream.
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// A data frame passed by.
    pub fn on_data(&mut self, data: &Bytes) {
        match &mut self.mode {
            Mode::Parse {
                parser,
                usage,
                publish,
            } => {
                let was_open = usage.completion() == StreamCompletion::Open;
                parser.feed(data, |event| usage.observe(event));
                // Published as soon as the end marker passes, not only at
                // the body's end: a client that hangs up at the marker
                // (many do) leaves the layers outside with the usage.
                if was_open && usage.completion() != StreamCompletion::Open {
                    publish.publish(usage);
                }
            }
            Mode::Json {
                frames,
                size,
                limit,
                overflowed,
                ..
            } => {
                *size += data.len();
                if *size > *limit {
                    *overflowed = true;
                    *frames = Vec::new();
                } else if !*overflowed {
                    frames.push(data.clone());
                }
            }
            Mode::Shared(_) | Mode::Kept(_) | Mode::None => {}
        }
    }

    /// How the stream has ended so far, as its events tell; `None` for a
    /// body that is not a stream, or a shared stream not yet published.
    pub fn completion(&self) -> Option<StreamCompletion> {
        match &self.mode {
            _ if !self.stream => None,
            Mode::Parse { usage, .. } => Some(usage.completion()),
            Mode::Shared(shared) => shared.get().map(|usage| usage.completion()),
            Mode::Json { .. } | Mode::Kept(_) | Mode::None => None,
        }
    }

    /// The body ended (or was dropped): publishes a parsed stream for the
    /// layers outside and returns the usage, if the body carried one.
    pub fn finish(&mut self) -> Option<Usage> {
        match &mut self.mode {
            Mode::Parse { usage, publish, .. } => {
                publish.publish(usage);
                usage.usage().cloned()
            }
            Mode::Shared(shared) => shared.get().and_then(|usage| usage.usage().cloned()),
            Mode::Json {
                frames,
                overflowed,
                publish,
                ..
            } => {
                let usage = match (frames.as_slice(), *overflowed) {
                    (_, true) => None,
                    ([one], false) => token_usage_from_json(self.kind, one),
                    (many, false) => token_usage_from_json(self.kind, &many.concat()),
                };
                publish.publish(&UsageTracker::of_body(self.kind, usage.clone()));
                usage
            }
            // Published by the caller with what it read (`finish_kept`).
            Mode::Kept(_) | Mode::None => None,
        }
    }
}

/// A new slot in the response for this reader's result.
fn publish_in<B>(response: &mut Response<B>) -> PublishedUsage {
    let publish = PublishedUsage::new();
    response.extensions_mut().insert(publish.clone());
    publish
}

/// Whether the response is `text/event-stream`.
pub fn is_event_stream<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse_response() -> Response<()> {
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(())
            .unwrap()
    }

    const STREAM: &[u8] = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";

    #[test]
    fn an_outer_reader_uses_the_inner_parse() {
        let mut response = sse_response();
        let mut inner = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut response, 0);
        let mut outer = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut response, 0);
        assert!(inner.is_stream() && outer.is_stream());
        let (events, marker) = STREAM.split_at(STREAM.len() - b"data: [DONE]\n\n".len());
        for part in [events, marker] {
            inner.on_data(&Bytes::from_static(part));
            outer.on_data(&Bytes::from_static(part));
            if part == events {
                assert_eq!(
                    outer.completion(),
                    None,
                    "nothing published before the marker"
                );
            }
        }
        // Published when the end marker passed, before the body's end: a
        // client hanging up at the marker leaves the usage to the layers
        // outside.
        assert_eq!(outer.completion(), Some(StreamCompletion::Completed));
        assert_eq!(outer.finish().unwrap().output_tokens, 2);
        assert_eq!(inner.finish().unwrap().input_tokens, 7);
    }

    #[test]
    fn a_json_body_is_parsed_once_too() {
        let body = Bytes::from_static(br#"{"usage":{"prompt_tokens":4,"completion_tokens":1}}"#);
        let mut response = Response::new(());
        let mut inner = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut response, 1 << 20);
        let mut outer = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut response, 1 << 20);
        inner.on_data(&body);
        outer.on_data(&body);
        assert_eq!(inner.finish().unwrap().input_tokens, 4);
        assert!(!outer.is_stream());
        assert_eq!(outer.completion(), None);
        assert_eq!(outer.finish().unwrap().input_tokens, 4);
    }

    #[test]
    fn failed_statuses_and_oversized_json_have_no_usage() {
        let mut failed = Response::builder().status(500).body(()).unwrap();
        let mut reader = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut failed, 1 << 20);
        reader.on_data(&Bytes::from_static(br#"{"usage":{"prompt_tokens":1}}"#));
        assert!(reader.finish().is_none());

        let mut ok = Response::new(());
        let mut reader = ResponseUsage::for_response(ApiKind::OpenAiChat, &mut ok, 8);
        reader.on_data(&Bytes::from_static(br#"{"usage":{"prompt_tokens":1}}"#));
        assert!(reader.finish().is_none());
    }
}
