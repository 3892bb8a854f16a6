//! Metric handles, built once per label set and reused for every call.

use std::sync::OnceLock;

use llm_layers_core::{CacheOutcome, TokenKind};
use metrics::{Counter, Gauge, Histogram};

use crate::classify::{ErrorKind, ERROR_KINDS};
use crate::names::{self, Names};

/// Token kinds' labels, in [`TokenKind::ALL`] order.
pub(crate) const TOKEN_KINDS: [&str; TokenKind::ALL.len()] = {
    let mut labels = [""; TokenKind::ALL.len()];
    let mut at = 0;
    while at < TokenKind::ALL.len() {
        labels[at] = TokenKind::ALL[at].as_str();
        at += 1;
    }
    labels
};

/// `none` (no cache in front), then every cache outcome.
const CACHE_LABELS: [&str; 1 + CacheOutcome::ALL.len()] = {
    let mut labels = ["none"; 1 + CacheOutcome::ALL.len()];
    let mut at = 0;
    while at < CacheOutcome::ALL.len() {
        labels[1 + at] = CacheOutcome::ALL[at].as_str();
        at += 1;
    }
    labels
};
/// `ok`, then every error kind.
const OUTCOMES: usize = 1 + ERROR_KINDS.len();

pub(crate) fn cache_slot(outcome: Option<CacheOutcome>) -> usize {
    outcome.map_or(0, |outcome| 1 + outcome.index())
}

/// The dollar gauges of a label pair, in [`Handles::dollars`]' order.
#[derive(Clone, Copy)]
enum Dollars {
    Spent,
    SavedByResponseCache,
    SavedByPromptCache,
}

/// Tokens go to a counter by default, or to a histogram per call with the
/// OpenTelemetry names.
enum TokenSink {
    Counter(Counter),
    Histogram(Histogram),
}

/// The handles of one (provider, model) label pair.
pub(crate) struct Handles {
    names: Names,
    provider: &'static str,
    model: String,
    requests: [[OnceLock<Counter>; CACHE_LABELS.len()]; OUTCOMES],
    duration: Histogram,
    time_to_first_chunk: OnceLock<Histogram>,
    tokens: [OnceLock<TokenSink>; TOKEN_KINDS.len()],
    saved: [OnceLock<Counter>; TOKEN_KINDS.len()],
    /// One per [`Dollars`].
    dollars: [OnceLock<Gauge>; 3],
    errors: [OnceLock<Counter>; ERROR_KINDS.len()],
    pub in_flight: Gauge,
}

impl Handles {
    pub fn new(names: Names, provider: &'static str, model: &str) -> Handles {
        let labels = [
            (names.provider_label(), provider.to_owned()),
            (names.model_label(), model.to_owned()),
        ];
        Handles {
            names,
            provider,
            model: model.to_owned(),
            requests: Default::default(),
            duration: metrics::histogram!(names.duration(), &labels),
            time_to_first_chunk: OnceLock::new(),
            tokens: Default::default(),
            saved: Default::default(),
            dollars: Default::default(),
            errors: Default::default(),
            in_flight: metrics::gauge!(names::IN_FLIGHT, "provider" => provider, "model" => model.to_owned()),
        }
    }

    /// The model label.
    pub fn model(&self) -> &str {
        &self.model
    }

    fn labels(&self) -> [(&'static str, String); 2] {
        [
            (self.names.provider_label(), self.provider.to_owned()),
            (self.names.model_label(), self.model.clone()),
        ]
    }

    pub fn request(&self, error: Option<ErrorKind>, cache: Option<CacheOutcome>) {
        let outcome = error.map_or(0, |kind| kind.index() + 1);
        let slot = cache_slot(cache);
        self.requests[outcome][slot]
            .get_or_init(|| {
                let outcome = error.map_or("ok", ErrorKind::as_str);
                metrics::counter!(names::REQUESTS,
                    "provider" => self.provider, "model" => self.model.clone(),
                    "outcome" => outcome, "cache" => CACHE_LABELS[slot])
            })
            .increment(1);
        if let Some(kind) = error {
            self.errors[kind.index()]
                .get_or_init(|| {
                    metrics::counter!(names::ERRORS,
                        "provider" => self.provider, "model" => self.model.clone(), "kind" => kind.as_str())
                })
                .increment(1);
        }
    }

    pub fn duration(&self, seconds: f64) {
        self.duration.record(seconds);
    }

    pub fn time_to_first_chunk(&self, seconds: f64) {
        self.time_to_first_chunk
            .get_or_init(|| metrics::histogram!(self.names.time_to_first_chunk(), &self.labels()))
            .record(seconds);
    }

    /// Tokens the provider billed for this call.
    pub fn tokens(&self, kind: usize, count: u64) {
        let sink = self.tokens[kind].get_or_init(|| {
            if self.names.otel {
                let mut labels = self.labels().to_vec();
                labels.push(("gen_ai.token.type", TOKEN_KINDS[kind].to_owned()));
                TokenSink::Histogram(metrics::histogram!(names::OTEL_TOKEN_USAGE, &labels))
            } else {
                TokenSink::Counter(metrics::counter!(names::TOKENS,
                    "provider" => self.provider, "model" => self.model.clone(), "kind" => TOKEN_KINDS[kind]))
            }
        });
        match sink {
            TokenSink::Counter(counter) => counter.increment(count),
            TokenSink::Histogram(histogram) => histogram.record(count as f64),
        }
    }

    /// A priced call's dollars: spent, or saved by the response cache; and
    /// what the prompt cache saved.
    pub fn cost(&self, cost: crate::prices::Cost, from_cache: bool) {
        if from_cache {
            self.dollars(Dollars::SavedByResponseCache)
                .increment(cost.spent);
            return;
        }
        self.dollars(Dollars::Spent).increment(cost.spent);
        if cost.prompt_cache_saved > 0.0 {
            self.dollars(Dollars::SavedByPromptCache)
                .increment(cost.prompt_cache_saved);
        }
    }

    /// The gauge of `which`, built at its first use.
    fn dollars(&self, which: Dollars) -> &Gauge {
        self.dollars[which as usize].get_or_init(|| {
            let (provider, model) = (self.provider, self.model.clone());
            match which {
                Dollars::Spent => {
                    metrics::gauge!(names::COST, "provider" => provider, "model" => model)
                }
                Dollars::SavedByResponseCache => {
                    metrics::gauge!(names::COST_SAVED, "provider" => provider, "model" => model, "by" => "response_cache")
                }
                Dollars::SavedByPromptCache => {
                    metrics::gauge!(names::COST_SAVED, "provider" => provider, "model" => model, "by" => "prompt_cache")
                }
            }
        })
    }

    /// A call with usage whose model has no price.
    pub fn unpriced(&self) {
        metrics::counter!(names::UNPRICED, "provider" => self.provider, "model" => self.model.clone())
            .increment(1);
    }

    /// Tokens of an answer served from the response cache.
    pub fn saved(&self, kind: usize, count: u64) {
        self.saved[kind]
            .get_or_init(|| {
                metrics::counter!(names::TOKENS_SAVED,
                    "provider" => self.provider, "model" => self.model.clone(), "kind" => TOKEN_KINDS[kind])
            })
            .increment(count);
    }
}
