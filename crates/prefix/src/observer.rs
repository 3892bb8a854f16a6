//! Credits a response's usage to the static prefix of its request.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use llm_layers_core::body::{BodyEnd, BodyObserver};
use llm_layers_core::usage::ResponseUsage;
use llm_layers_core::ApiKind;

use crate::diagnosis::{MissKey, Shape};
use crate::report::PrefixReport;
use crate::stats::{PrefixStats, Row};

/// The body observer of one call.
pub(crate) struct PrefixObserver {
    tracked: Option<Tracked>,
    reader: Option<ResponseUsage>,
}

struct Tracked {
    row: Arc<Row>,
    report: PrefixReport,
    kind: ApiKind,
    json_limit: usize,
    diagnose: Option<Diagnose>,
}

/// What the miss diagnosis needs of a call.
pub(crate) struct Diagnose {
    pub stats: PrefixStats,
    pub key: MissKey,
    pub model: String,
    pub shape: Shape,
}

impl PrefixObserver {
    /// For a request the layer left untouched: watches nothing.
    pub(crate) fn idle() -> Self {
        PrefixObserver {
            tracked: None,
            reader: None,
        }
    }

    pub(crate) fn new(
        row: Arc<Row>,
        report: PrefixReport,
        kind: ApiKind,
        json_limit: usize,
        diagnose: Option<Diagnose>,
    ) -> Self {
        PrefixObserver {
            tracked: Some(Tracked {
                row,
                report,
                kind,
                json_limit,
                diagnose,
            }),
            reader: None,
        }
    }

    /// Puts the report in the response and chooses how to read its usage.
    pub(crate) fn watch<B>(&mut self, response: &mut Response<B>) {
        if let Some(tracked) = &self.tracked {
            response.extensions_mut().insert(tracked.report);
            let reader = ResponseUsage::for_response(tracked.kind, response, tracked.json_limit);
            self.reader = Some(reader);
        }
    }
}

impl<E> BodyObserver<E> for PrefixObserver {
    fn on_data(&mut self, data: &Bytes) {
        if let Some(reader) = &mut self.reader {
            reader.on_data(data);
        }
    }

    fn on_end(&mut self, _end: BodyEnd<'_, E>) {
        let (Some(reader), Some(tracked)) = (&mut self.reader, &mut self.tracked) else {
            return;
        };
        if let Some(usage) = reader.finish() {
            tracked.row.usage(&usage);
            if let Some(diagnose) = tracked.diagnose.take() {
                let Diagnose {
                    stats,
                    key,
                    model,
                    shape,
                } = diagnose;
                stats.observe_miss(key, &model, shape, usage.cache_read_tokens);
            }
        }
    }
}
