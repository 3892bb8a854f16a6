//! The rewrite of one request body, from the core's request facts: the
//! shared parsed JSON is cloned, repaired by the provider's module, and
//! serialised once, only if something changed.

use bytes::Bytes;
use llm_layers_core::{ApiKind, RequestFacts};
use serde_json::{Map, Value};

use crate::config::PrefixConfig;
use crate::report::{PrefixFingerprint, PrefixReport, Rewrites};
use crate::volatile::{Split, VolatileFinder};
use crate::{anthropic, gemini, openai};

/// The configuration, with what it implies worked out once.
pub(crate) struct Rewriter {
    pub config: PrefixConfig,
    pub finder: VolatileFinder,
}

/// A rewrite's result.
#[derive(Clone, Debug)]
pub struct Rewritten {
    /// The new body; `None` when nothing needed to change.
    pub body: Option<Bytes>,
    /// What was done, the prefix's fingerprint and estimated length.
    pub report: PrefixReport,
    /// The sent prompt's elements, to tell where a later prompt departs.
    pub(crate) shape: crate::diagnosis::Shape,
}

/// The state of one rewrite, handed to the provider modules.
pub(crate) struct Context<'a> {
    pub rewriter: &'a Rewriter,
    pub statics: &'a [String],
    pub rewrites: Rewrites,
    /// Made at the first static piece: most requests without a system
    /// prompt or tools have none, and share the empty prefix's fingerprint.
    prefix: Option<blake3::Hasher>,
    pub prefix_tokens: u64,
}

impl<'a> Context<'a> {
    pub fn config(&self) -> &PrefixConfig {
        &self.rewriter.config
    }

    /// Adds a piece of the static prefix to the fingerprint and estimate.
    pub fn static_piece(&mut self, text: &str) {
        let prefix = self.prefix.get_or_insert_with(blake3::Hasher::new);
        prefix.update(&(text.len() as u64).to_le_bytes());
        prefix.update(text.as_bytes());
        self.prefix_tokens += self.rewriter.config.estimator.tokens(text);
    }

    /// Adds a JSON value (a tool, a schema, a block) to the static prefix
    /// as it will be sent, less a `cache_control` member: a breakpoint marks
    /// the prefix, it is not part of it.
    pub fn static_json(&mut self, value: &Value) {
        let text = match value.as_object() {
            Some(map) if map.contains_key("cache_control") => {
                let mut map = map.clone();
                map.shift_remove("cache_control");
                Value::Object(map).to_string()
            }
            _ => value.to_string(),
        };
        self.static_piece(&text);
    }

    pub fn fingerprint(&self) -> PrefixFingerprint {
        static EMPTY: std::sync::LazyLock<PrefixFingerprint> =
            std::sync::LazyLock::new(|| short_fingerprint(&blake3::Hasher::new()));
        match &self.prefix {
            Some(prefix) => short_fingerprint(prefix),
            None => *EMPTY,
        }
    }

    /// Splits a system text into what stays and what moves.
    pub fn split(&self, text: &str) -> Option<Split> {
        self.rewriter.finder.split(text, self.statics)
    }

    /// Sorts the keys of a tool or schema when stable serialisation is on.
    pub fn stabilise(&mut self, value: &mut Value) {
        if self.config().stable_serialisation {
            self.rewrites.sorted_keys |= crate::stable::sort_keys(value);
        }
    }

    /// Stabilises every tool and, if asked, sorts them by name.
    pub fn stabilise_tools(&mut self, tools: &mut [Value], name: fn(&Value) -> Option<&str>) {
        for tool in tools.iter_mut() {
            self.stabilise(tool);
        }
        if self.config().reorder_tools && !tools.is_sorted_by_key(|tool| name(tool)) {
            tools.sort_by(|a, b| name(a).cmp(&name(b)));
            self.rewrites.reordered_tools = true;
        }
        for tool in tools.iter() {
            self.static_json(tool);
        }
    }
}

impl Rewriter {
    pub fn new(config: PrefixConfig) -> Rewriter {
        let finder = config.finder();
        Rewriter { config, finder }
    }

    /// Rewrites the request these facts describe; `None` when the layer
    /// does not understand it (it is then forwarded untouched).
    pub fn rewrite(&self, facts: &RequestFacts, statics: &[String]) -> Option<Rewritten> {
        let rewrite: fn(&mut Map<String, Value>, &mut Context<'_>) = match facts.kind() {
            ApiKind::OpenAiChat => openai::chat,
            ApiKind::OpenAiResponses => openai::responses,
            ApiKind::AnthropicMessages => anthropic::messages,
            ApiKind::GeminiGenerateContent => gemini::generate,
            _ => return None,
        };
        let mut cx = Context {
            rewriter: self,
            statics,
            rewrites: Rewrites::default(),
            prefix: None,
            prefix_tokens: 0,
        };
        let mut body = None;
        let mut shape = crate::diagnosis::Shape::default();
        if may_have_a_prefix(facts.kind(), facts.body()) {
            // Parsed once, straight into the tree the rewrite edits; the
            // facts' scan has already proved the body is JSON.
            let mut parsed: Map<String, Value> = serde_json::from_slice(facts.body()).ok()?;
            rewrite(&mut parsed, &mut cx);
            shape = crate::diagnosis::shape_of(facts.kind(), &parsed);
            body = Some(parsed);
        }
        let report = PrefixReport {
            fingerprint: cx.fingerprint(),
            estimated_prefix_tokens: cx.prefix_tokens,
            minimum_tokens: self
                .config
                .minimums
                .minimum(facts.provider(), facts.model()),
            rewrites: cx.rewrites,
        };
        let body = match (report.rewrites.any(), body) {
            (true, Some(body)) => serde_json::to_vec(&body).ok().map(Bytes::from),
            _ => None,
        };
        Some(Rewritten {
            body,
            report,
            shape,
        })
    }
}

/// The first 8 bytes of the prefix's digest.
fn short_fingerprint(prefix: &blake3::Hasher) -> PrefixFingerprint {
    let hash = prefix.finalize();
    let mut short = [0; 8];
    short.copy_from_slice(&hash.as_bytes()[..8]);
    PrefixFingerprint(short)
}

/// Whether the body names anything a static prefix is made of (tools,
/// schemas, system text, conversation history). A request without any —
/// a lone user message — has nothing to repair and is not parsed. A member
/// name written with escapes is not seen, and the request is then
/// forwarded untouched, which is always safe.
fn may_have_a_prefix(kind: ApiKind, body: &[u8]) -> bool {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    // Finders are built once: building one costs more than a short search.
    static CHAT: LazyLock<[Finder<'static>; 4]> = LazyLock::new(|| {
        [
            r#""tools""#,
            r#""response_format""#,
            r#""system""#,
            r#""developer""#,
        ]
        .map(Finder::new)
    });
    static RESPONSES: LazyLock<[Finder<'static>; 3]> =
        LazyLock::new(|| [r#""tools""#, r#""text""#, r#""instructions""#].map(Finder::new));
    static MESSAGES: LazyLock<[Finder<'static>; 3]> =
        LazyLock::new(|| [r#""tools""#, r#""system""#, r#""assistant""#].map(Finder::new));
    static GEMINI: LazyLock<[Finder<'static>; 4]> = LazyLock::new(|| {
        [
            r#""tools""#,
            r#"nstruction""#,
            r#"esponseSchema""#,
            r#"esponse_schema""#,
        ]
        .map(Finder::new)
    });
    let finders: &[Finder<'static>] = match kind {
        ApiKind::OpenAiChat => &*CHAT,
        ApiKind::OpenAiResponses => &*RESPONSES,
        ApiKind::AnthropicMessages => &*MESSAGES,
        ApiKind::GeminiGenerateContent => &*GEMINI,
        _ => return false,
    };
    finders.iter().any(|finder| finder.find(body).is_some())
}

/// The text of a message's content: a string, or its text parts joined.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part.get("text").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// One piece of system content: a text that may hold volatile spans, or
/// another block (an image, a document), which counts as static.
pub(crate) enum Slot<'v> {
    Text(&'v mut String),
    Other(&'v Value),
}

/// The slots of a content value: a string, or a list of parts or blocks.
pub(crate) fn slots(content: &mut Value) -> Vec<Slot<'_>> {
    match content {
        Value::String(text) => vec![Slot::Text(text)],
        Value::Array(parts) => parts.iter_mut().map(slot).collect(),
        _ => Vec::new(),
    }
}

/// A part or block as a slot.
fn slot(part: &mut Value) -> Slot<'_> {
    if matches!(part.get("text"), Some(Value::String(_))) {
        match part.get_mut("text") {
            Some(Value::String(text)) => return Slot::Text(text),
            _ => unreachable!("checked above"),
        }
    }
    Slot::Other(part)
}

/// Splits a run of system content. Volatile spans move out of every slot up
/// to the last one that keeps static content; slots after it are already
/// behind the prefix and stay as they are (so a repaired request is left
/// alone the second time). Returns the moved pieces and the index of the
/// last static slot, and adds the static slots to the prefix.
pub(crate) fn split_run(
    slots: &mut [Slot<'_>],
    cx: &mut Context<'_>,
) -> (Vec<String>, Option<usize>) {
    let splits: Vec<Option<Split>> = slots
        .iter()
        .map(|slot| match slot {
            Slot::Text(text) => cx.split(text),
            Slot::Other(_) => None,
        })
        .collect();
    let is_static = |index: usize| match (&slots[index], &splits[index]) {
        (Slot::Other(_), _) => true,
        (Slot::Text(_), Some(split)) => !split.kept.trim().is_empty(),
        (Slot::Text(text), None) => !text.trim().is_empty(),
    };
    let Some(last) = (0..slots.len()).rev().find(|&index| is_static(index)) else {
        return (Vec::new(), None);
    };
    let mut moved = Vec::new();
    for (slot, split) in slots[..=last].iter_mut().zip(splits) {
        match slot {
            Slot::Text(text) => {
                if let Some(split) = split {
                    **text = split.kept;
                    moved.extend(split.moved);
                }
                cx.static_piece(text);
            }
            Slot::Other(value) => cx.static_json(value),
        }
    }
    cx.rewrites.moved_volatile += moved.len();
    (moved, Some(last))
}
