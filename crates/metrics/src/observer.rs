//! Watches a response body go by: first chunk, usage (read by the core's
//! `ResponseUsage`) and how it ended, then records the call once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use llm_layers_core::body::{BodyEnd, BodyObserver};
use llm_layers_core::usage::ResponseUsage;
use llm_layers_core::{ApiKind, CacheOutcome, StreamCompletion, Usage};
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
    /// The model the request named (the label may be `other`): prices go by it.
    pub model: Option<String>,
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
            model: model.map(str::to_owned),
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
                model: self.model.as_deref(),
                circuit_open: false,
            },
        );
    }
}

/// The body observer of one call.
pub(crate) struct CallObserver {
    call: Option<CallStart>,
    /// The answer is an open circuit breaker's (`x-llm-circuit: open`).
    pub(crate) circuit_open: bool,
    error: Option<ErrorKind>,
    cache: Option<CacheOutcome>,
    first_chunk: Option<Duration>,
    reader: ResponseUsage,
}

impl CallObserver {
    pub(crate) fn new(
        call: CallStart,
        status_error: Option<ErrorKind>,
        cache: Option<CacheOutcome>,
        reader: ResponseUsage,
    ) -> CallObserver {
        CallObserver {
            call: Some(call),
            circuit_open: false,
            error: status_error,
            cache,
            first_chunk: None,
            reader,
        }
    }

    fn finish(&mut self, end_error: Option<ErrorKind>) {
        let Some(call) = self.call.take() else { return };
        let mut error = self.error.or(end_error);
        let usage: Option<Usage> = self.reader.finish();
        if self.reader.completion() == Some(StreamCompletion::Failed) {
            // An in-stream failure is the call's error.
            error = error.or(Some(ErrorKind::StreamError));
        }
        let time_to_first_chunk = if self.reader.is_stream() {
            self.first_chunk
        } else {
            None
        };
        call.registry.finish(
            &call.entry,
            Finished {
                duration: call.started.elapsed(),
                time_to_first_chunk,
                error,
                cache: self.cache,
                usage: usage.as_ref(),
                model: call.model.as_deref(),
                circuit_open: self.circuit_open,
            },
        );
        drop(call.in_flight);
    }
}

impl<E> BodyObserver<E> for CallObserver {
    fn on_data(&mut self, data: &Bytes) {
        if self.first_chunk.is_none() {
            if let Some(call) = &self.call {
                self.first_chunk = Some(call.started.elapsed());
            }
        }
        self.reader.on_data(data);
    }

    fn on_end(&mut self, end: BodyEnd<'_, E>) {
        let end_error = match end {
            BodyEnd::Complete => None,
            BodyEnd::Error(_) => Some(ErrorKind::StreamAborted),
            // A stream whose terminal event arrived is complete even if the
            // caller did not read the last empty frame.
            BodyEnd::Dropped if self.reader.completion() == Some(StreamCompletion::Completed) => {
                None
            }
            BodyEnd::Dropped => Some(ErrorKind::Cancelled),
        };
        self.finish(end_error);
    }
}
