//! Gemini's `generateContent` and `streamGenerateContent` (a JSON array of
//! chunks, or SSE with `alt=sse`), with implicit caching emulated.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::answer::Answer;
use crate::render::Rendered;
use crate::reply::{sse_event, ApiError, Call, ErrorShape, Reply};

const SHAPE: ErrorShape = ErrorShape::Gemini;

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    role: Option<String>,
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig {
    max_output_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest {
    #[serde(default)]
    contents: Vec<Content>,
    system_instruction: Option<Content>,
    #[serde(default)]
    tools: Vec<Box<RawValue>>,
    generation_config: Option<GenerationConfig>,
}

impl GenerateRequest {
    fn render(&self) -> Rendered {
        let mut prompt = Rendered::default();
        if let Some(system) = &self.system_instruction {
            prompt.push_role("system");
            push_parts(&mut prompt, system);
            prompt.end_block(None);
        }
        for tool in &self.tools {
            prompt.push_raw(tool);
        }
        for content in &self.contents {
            prompt.push_role(content.role.as_deref().unwrap_or("user"));
            push_parts(&mut prompt, content);
            prompt.end_block(None);
        }
        prompt
    }
}

fn push_parts(prompt: &mut Rendered, content: &Content) {
    for part in &content.parts {
        if let Some(text) = &part.text {
            prompt.push_text(text);
        }
    }
}

/// How a `generateContent` call wants its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// `:generateContent`: one JSON object.
    Whole,
    /// `:streamGenerateContent`: a JSON array of chunks.
    Array,
    /// `:streamGenerateContent?alt=sse`: one SSE event per chunk.
    Sse,
}

/// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`.
pub fn generate(call: &Call, model: &str, delivery: Delivery) -> Result<Reply, ApiError> {
    let request: GenerateRequest = serde_json::from_slice(call.body).map_err(|error| {
        ApiError::invalid(SHAPE, format!("Invalid JSON payload received. {error}"))
    })?;
    if request.contents.is_empty() {
        return Err(ApiError::invalid(SHAPE, "* contents: must not be empty"));
    }
    let prompt = request.render();
    let cached = call
        .cache
        .gemini(call.partition, model, &prompt, call.openai_ttl)
        .read;
    let max = request.generation_config.and_then(|c| c.max_output_tokens);
    let answer = Answer::new(model, &prompt.text, max);
    call.prefill(prompt.tokens() - cached);
    let usage = |output: u64| {
        let mut usage = json!({
            "promptTokenCount": prompt.tokens(),
            "candidatesTokenCount": output,
            "totalTokenCount": prompt.tokens() + output,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt.tokens()}]
        });
        if cached > 0 {
            usage["cachedContentTokenCount"] = json!(cached);
        }
        usage
    };
    let id = answer.id("");
    let chunk = |text: String, finish: Option<&str>, output: u64| {
        let mut candidate = json!({
            "content": {"role": "model", "parts": [{"text": text}]},
            "index": 0
        });
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        json!({
            "candidates": [candidate],
            "usageMetadata": usage(output),
            "modelVersion": model,
            "responseId": id
        })
    };
    if delivery == Delivery::Whole {
        return Ok(Reply::Json(chunk(
            answer.text(),
            Some("STOP"),
            answer.tokens(),
        )));
    }
    let pieces = answer.pieces();
    let last = pieces.len().saturating_sub(1);
    let chunks: Vec<Value> = pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| match i == last {
            true => chunk(piece, Some("STOP"), answer.tokens()),
            false => chunk(piece, None, 0),
        })
        .collect();
    Ok(match delivery {
        Delivery::Sse => Reply::Stream(chunks.iter().map(|c| sse_event(None, c)).collect()),
        _ => Reply::Json(Value::Array(chunks)),
    })
}

/// `…/models/{model}:generateContent` or `:streamGenerateContent`: the model
/// and how the answer is delivered (`alt=sse` in the query for SSE).
pub fn route<'a>(path: &'a str, query: Option<&str>) -> Option<(&'a str, Delivery)> {
    let (parent, last) = path.rsplit_once('/')?;
    if !parent.ends_with("/models") {
        return None;
    }
    let (model, method) = last.rsplit_once(':')?;
    let sse = query.is_some_and(|q| q.split('&').any(|pair| pair == "alt=sse"));
    let delivery = match (method, sse) {
        ("generateContent", _) => Delivery::Whole,
        ("streamGenerateContent", true) => Delivery::Sse,
        ("streamGenerateContent", false) => Delivery::Array,
        _ => return None,
    };
    (!model.is_empty()).then_some((model, delivery))
}
