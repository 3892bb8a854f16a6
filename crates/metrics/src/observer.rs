//! Watches a response body go by: first chunk, usage (from SSE events or
//! the JSON body) and how it ended, then records the call once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use llm_layers_core::tap::{BodyEnd, BodyObserver};
use llm_layers_core::usage::token_usage_from_json;
use llm_layers_core::{
    ApiKind, CacheOutcome, SharedStreamUsage, SseParser, StreamCompletion, StreamUsage, Usage,
};
use metrics::Gauge;

use crate::classify::ErrorKind;
use crate::registry::{Entry, Finished, Registry};

/// Counts a call in flight until dropped.
pub(crate) struct InFlight(Gauge);

impl InFlight {
    pub fn new(gauge: &Gauge) -> InFlight {
        gauge.increment(1.0);
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// What is known of a call before its response arrives.
pub(crate) struct CallStart {
    pub registry: Arc<Registry>,
    pub entry: Arc<Entry>,
    pub kind: ApiKind,
    pub started: Instant,
    pub in_flight: InFlight,
}

impl CallStart {
    pub fn new(
        registry: Arc<Registry>,
        kind: ApiKind,
        model: Option<&str>,
        started: Instant,
    ) -> CallStart {
        let entry = registry.entry(kind.provider(), model);
        let in_flight = InFlight::new(&entry.handles.in_flight);
        CallStart {
            registry,
            entry,
            kind,
            started,
            in_flight,
        }
    }

    /// The call failed before any response.
    pub fn failed(self, error: ErrorKind) {
        self.registry.finish(
            &self.entry,
            Finished {
                duration: self.started.elapsed(),
                time_to_first_chunk: None,
                error: Some(error),
                cache: None,
                usage: None,
            },
        );
    }
}

/// How usage is read from the body.
enum UsageReader {
    Sse {
        parser: SseParser,
        usage: StreamUsage,
    },
    /// An inner layer parses the stream and publishes its result here.
    SharedSse(SharedStreamUsage),
    /// The body's frames (reference-counted, not copied) up to a limit.
    Json {
        frames: Vec<Bytes>,
        size: usize,
        limit: usize,
        overflowed: bool,
    },
    None,
}

/// The body observer of one call.
pub struct CallObserver {
    call: Option<CallStart>,
    error: Option<ErrorKind>,
    cache: Option<CacheOutcome>,
    first_chunk: Option<Duration>,
    reader: UsageReader,
}

impl CallObserver {
    pub(crate) fn new(
        call: CallStart,
        status_error: Option<ErrorKind>,
        cache: Option<CacheOutcome>,
        sse: bool,
        shared: Option<SharedStreamUsage>,
    ) -> CallObserver {
        let reader = if status_error.is_some() {
            UsageReader::None
        } else if let (true, Some(shared)) = (sse, shared) {
            UsageReader::SharedSse(shared)
        } else if sse {
            UsageReader::Sse {
                parser: SseParser::new(),
                usage: StreamUsage::new(call.kind),
            }
        } else {
            UsageReader::Json {
                frames: Vec::new(),
                size: 0,
                limit: call.registry.config().max_response_bytes,
                overflowed: false,
            }
        };
        CallObserver {
            call: Some(call),
            error: status_error,
            cache,
            first_chunk: None,
            reader,
        }
    }

    fn finish(&mut self, end_error: Option<ErrorKind>) {
        let Some(call) = self.call.take() else { return };
        let mut error = self.error.or(end_error);
        let shared = match &self.reader {
            UsageReader::SharedSse(shared) => shared.get(),
            _ => None,
        };
        let usage: Option<Usage> = match &mut self.reader {
            UsageReader::Sse { usage, .. } => stream_result(usage, &mut error),
            UsageReader::SharedSse(_) => shared
                .as_ref()
                .and_then(|usage| stream_result(usage, &mut error)),
            UsageReader::Json {
                frames,
                overflowed: false,
                ..
            } => match frames.as_slice() {
                [one] => token_usage_from_json(call.kind, one),
                many => token_usage_from_json(call.kind, &many.concat()),
            },
            _ => None,
        };
        let time_to_first_chunk = match self.reader {
            UsageReader::Sse { .. } | UsageReader::SharedSse(_) => self.first_chunk,
            _ => None,
        };
        call.registry.finish(
            &call.entry,
            Finished {
                duration: call.started.elapsed(),
                time_to_first_chunk,
                error,
                cache: self.cache,
                usage: usage.as_ref(),
            },
        );
        drop(call.in_flight);
    }

    fn stream_completed(&self) -> bool {
        let completion = match &self.reader {
            UsageReader::Sse { usage, .. } => Some(usage.completion()),
            UsageReader::SharedSse(shared) => shared.get().map(|usage| usage.completion()),
            _ => None,
        };
        completion == Some(StreamCompletion::Completed)
    }
}

/// A stream's usage; an in-stream failure becomes the call's error.
fn stream_result(usage: &StreamUsage, error: &mut Option<ErrorKind>) -> Option<Usage> {
    if usage.completion() == StreamCompletion::Failed {
        *error = error.or(Some(ErrorKind::StreamError));
    }
    usage.usage().cloned()
}

impl<E> BodyObserver<E> for CallObserver {
    fn on_data(&mut self, data: &Bytes) {
        if self.first_chunk.is_none() {
            if let Some(call) = &self.call {
                self.first_chunk = Some(call.started.elapsed());
            }
        }
        match &mut self.reader {
            UsageReader::Sse { parser, usage } => parser.feed(data, |event| usage.observe(event)),
            UsageReader::Json {
                frames,
                size,
                limit,
                overflowed,
            } => {
                *size += data.len();
                if *size > *limit {
                    *overflowed = true;
                    frames.clear();
                } else if !*overflowed {
                    frames.push(data.clone());
                }
            }
            UsageReader::SharedSse(_) | UsageReader::None => {}
        }
    }

    fn on_end(&mut self, end: BodyEnd<'_, E>) {
        let end_error = match end {
            BodyEnd::Complete => None,
            BodyEnd::Error(_) => Some(ErrorKind::StreamAborted),
            // A stream whose terminal event arrived is complete even if the
            // caller did not read the last empty frame.
            BodyEnd::Dropped if self.stream_completed() => None,
            BodyEnd::Dropped => Some(ErrorKind::Cancelled),
        };
        self.finish(end_error);
    }
}
