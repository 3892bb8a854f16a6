//! Whether an embeddings request can join a batch, which batch, and what
//! it brings: its inputs, their size and their estimated tokens.

use llm_layers_core::tokens::TokenEstimator;
use llm_layers_core::{ApiKind, RequestFacts};
use serde_json::{Map, Value};

/// Text inputs and token-array inputs never share an upstream request
/// (the API takes one form per request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    Text,
    Tokens,
}

/// What a request brings to a batch.
#[derive(Debug)]
pub(crate) struct Joining {
    /// Requests with equal groups may share an upstream request.
    pub group: [u8; 32],
    /// Its inputs, in order, as arrays of one form.
    pub inputs: Vec<Value>,
    /// Each input's estimated tokens (exact for token arrays).
    pub weights: Vec<u64>,
    /// Bytes of its inputs as JSON.
    pub bytes: usize,
    /// Its body without `input`: the batch's body when it leads.
    pub template: Map<String, Value>,
}

/// The batchable view of a request; `None` when it must go alone (not
/// embeddings, not understood, or an input of no known form).
pub(crate) fn joining(facts: &RequestFacts, estimator: &dyn TokenEstimator) -> Option<Joining> {
    if facts.kind() != ApiKind::OpenAiEmbeddings || !facts.is_understood() {
        return None;
    }
    let mut template = facts.json()?.as_object()?.clone();
    let (form, inputs) = inputs(template.remove("input")?)?;
    let weights = inputs
        .iter()
        .map(|input| match input {
            Value::String(text) => estimator.tokens(text),
            Value::Array(tokens) => tokens.len() as u64,
            _ => 0,
        })
        .collect();
    let bytes = inputs.iter().map(|input| input.to_string().len()).sum();
    let group = group(facts, &template, form);
    Some(Joining {
        group,
        inputs,
        weights,
        bytes,
        template,
    })
}

/// A string, strings, a token array or token arrays, as a list of one form.
fn inputs(input: Value) -> Option<(Form, Vec<Value>)> {
    let is_tokens = |value: &Value| {
        value
            .as_array()
            .is_some_and(|tokens| !tokens.is_empty() && tokens.iter().all(Value::is_u64))
    };
    match input {
        Value::String(_) => Some((Form::Text, vec![input])),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) if items.iter().all(Value::is_string) => Some((Form::Text, items)),
        Value::Array(ref items) if items.iter().all(Value::is_u64) => {
            Some((Form::Tokens, vec![input]))
        }
        Value::Array(items) if items.iter().all(is_tokens) => Some((Form::Tokens, items)),
        _ => None,
    }
}

/// The target, the credential partition, every member but `input` (keys
/// sorted) and the input form.
fn group(facts: &RequestFacts, template: &Map<String, Value>, form: Form) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(facts.target().as_bytes());
    field(facts.credential().map_or(&[][..], |c| c.as_bytes()));
    let mut members: Vec<(&String, &Value)> = template.iter().collect();
    members.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in members {
        field(name.as_bytes());
        field(value.to_string().as_bytes());
    }
    field(&[form as u8]);
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use llm_layers_core::tokens::BytesPerToken;

    fn facts(body: &str, key: &str) -> RequestFacts {
        let (parts, ()) = http::Request::post("https://api.openai.com/v1/embeddings")
            .header("authorization", key)
            .body(())
            .unwrap()
            .into_parts();
        RequestFacts::from_parts(&parts, Bytes::from(body.to_owned()))
    }

    fn join(body: &str, key: &str) -> Option<Joining> {
        joining(&facts(body, key), &BytesPerToken)
    }

    #[test]
    fn every_input_form_joins_and_one_form_per_group() {
        let one = join(r#"{"model":"e","input":"hello world"}"#, "k").unwrap();
        assert_eq!(one.inputs, vec![Value::from("hello world")]);
        assert_eq!(one.weights, vec![3]);
        let many = join(r#"{"input":["a","b"],"model":"e"}"#, "k").unwrap();
        assert_eq!(many.inputs.len(), 2);
        assert_eq!(
            one.group, many.group,
            "key order and input count do not matter"
        );
        let tokens = join(r#"{"model":"e","input":[1,2,3]}"#, "k").unwrap();
        assert_eq!(tokens.inputs, vec![serde_json::json!([1, 2, 3])]);
        assert_eq!(tokens.weights, vec![3]);
        let arrays = join(r#"{"model":"e","input":[[1],[2,3]]}"#, "k").unwrap();
        assert_eq!(arrays.weights, vec![1, 2]);
        assert_eq!(tokens.group, arrays.group);
        assert_ne!(tokens.group, one.group, "text and tokens never mix");
    }

    #[test]
    fn parameters_and_credentials_separate_groups() {
        let base = join(r#"{"model":"e","input":"x"}"#, "k").unwrap().group;
        for (body, key) in [
            (r#"{"model":"e","input":"x","dimensions":256}"#, "k"),
            (
                r#"{"model":"e","input":"x","encoding_format":"base64"}"#,
                "k",
            ),
            (r#"{"model":"e","input":"x","user":"u"}"#, "k"),
            (r#"{"model":"f","input":"x"}"#, "k"),
            (r#"{"model":"e","input":"x"}"#, "other"),
        ] {
            assert_ne!(join(body, key).unwrap().group, base, "{body} {key}");
        }
    }

    #[test]
    fn what_cannot_batch_goes_alone() {
        for body in [
            r#"{"model":"e","input":[]}"#,
            r#"{"model":"e","input":["a",[1]]}"#,
            r#"{"model":"e","input":{"a":1}}"#,
            r#"{"model":"e"}"#,
            "not json",
        ] {
            assert!(join(body, "k").is_none(), "{body}");
        }
        let (parts, ()) = http::Request::post("https://api.openai.com/v1/chat/completions")
            .body(())
            .unwrap()
            .into_parts();
        let chat =
            RequestFacts::from_parts(&parts, Bytes::from_static(br#"{"model":"m","input":"x"}"#));
        assert!(joining(&chat, &BytesPerToken).is_none());
    }
}
