//! Request facts: what every layer needs to know about a request, worked
//! out once and kept in the request's extensions.
//!
//! The first layer that needs facts buffers the body (see
//! [`crate::buffer::collect_limited`]), calls [`RequestFacts::from_parts`]
//! and inserts the result with [`RequestFacts::insert_into`]; every later
//! layer reads it back with [`RequestFacts::from_extensions`]. The body is
//! scanned once: validation, the model and stream flag, and the canonical
//! key all come out of that one pass. Layers that need the JSON tree
//! ([`RequestFacts::json`]) share one lazily parsed copy.
//!
//! ```
//! use bytes::Bytes;
//! use llm_layers_core::{ApiKind, RequestFacts};
//!
//! let request = http::Request::post("https://api.openai.com/v1/chat/completions")
//!     .header("authorization", "Bearer sk-test")
//!     .body(())
//!     .unwrap();
//! let (mut parts, ()) = request.into_parts();
//! let body = Bytes::from_static(br#"{"model":"gpt-4o","stream":true,"messages":[]}"#);
//! let facts = RequestFacts::from_parts(&parts, body);
//! assert_eq!(facts.kind(), ApiKind::OpenAiChat);
//! assert_eq!(facts.model(), Some("gpt-4o"));
//! assert!(facts.stream());
//! assert!(facts.canonical_key().is_some());
//!
//! facts.insert_into(&mut parts.extensions);
//! assert!(RequestFacts::from_extensions(&parts.extensions).is_some());
//! ```

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::request::Parts;
use http::Extensions;

use crate::api::{route, ApiKind, Provider};
use crate::canonical::{write_canonical, CanonicalBuffers};
use crate::json_scan::{scan, Node, NodeKind, ScanError};
use crate::key::{
    answer_variant, body_digest, credential_fingerprint, derive_key, split_query_credential,
    BodyDigest, CanonicalKey, CredentialFingerprint,
};

/// Why a request's body could not be understood. Such a request is passed
/// through untouched and is never cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opaque {
    /// The body is not valid UTF-8 JSON.
    NotJson,
    /// The body is JSON nested deeper than 128 levels.
    TooDeep,
    /// The body is JSON but not an object.
    NotObject,
    /// The body was larger than the configured limit and was not buffered.
    TooLarge,
    /// The body stream failed before it was read to the end.
    BodyError,
}

impl Opaque {
    /// A short, stable name for labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Opaque::NotJson => "not_json",
            Opaque::TooDeep => "too_deep",
            Opaque::NotObject => "not_object",
            Opaque::TooLarge => "too_large",
            Opaque::BodyError => "body_error",
        }
    }
}

/// The facts of one request. Cheap to clone (one reference count).
#[derive(Clone, Debug)]
pub struct RequestFacts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ApiKind,
    model: Option<String>,
    stream: bool,
    body: Bytes,
    opaque: Option<Opaque>,
    method: http::Method,
    target: String,
    credential: Option<CredentialFingerprint>,
    variant: Option<[u8; 32]>,
    body_digest: Option<BodyDigest>,
    canonical_key: Option<CanonicalKey>,
    json: OnceLock<Option<serde_json::Value>>,
}

/// Scratch buffers reused by every scan on a thread.
struct Scratch {
    nodes: Vec<Node>,
    canonical: CanonicalBuffers,
}

impl Scratch {
    const fn new() -> Self {
        Scratch {
            nodes: Vec::new(),
            canonical: CanonicalBuffers::new(),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Scratch buffers larger than this are released after use.
const SCRATCH_KEEP_BYTES: usize = 1 << 20;

impl RequestFacts {
    /// Works out the facts of a request from its head and its complete body.
    pub fn from_parts(parts: &Parts, body: Bytes) -> RequestFacts {
        let target = Target::of(parts);
        let route = route(&parts.method, parts.uri.path());
        let scanned = SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => scan_body(&body, route.kind, &mut scratch),
            // Re-entered on this thread (cannot happen today): use fresh buffers.
            Err(_) => scan_body(&body, route.kind, &mut Scratch::new()),
        });
        let (kind, opaque, model, stream, digest) = match scanned {
            Ok(body) => (
                route.kind,
                None,
                route.path_model.or(body.model),
                route.path_stream || body.stream,
                Some(body.digest),
            ),
            Err(reason) => (ApiKind::Unknown, Some(reason), None, false, None),
        };
        let canonical_key = digest.as_ref().map(|digest| {
            derive_key(
                parts.method.as_str(),
                &target.text,
                target.credential.as_ref(),
                digest,
                target.variant.as_ref(),
            )
        });
        RequestFacts {
            inner: Arc::new(Inner {
                kind,
                model,
                stream,
                body,
                opaque,
                method: parts.method.clone(),
                target: target.text,
                credential: target.credential,
                variant: target.variant,
                body_digest: digest,
                canonical_key,
                json: OnceLock::new(),
            }),
        }
    }

    /// The facts of the same request with `body` sent instead (a layer
    /// rewrote it): method, target, credential, API and stream flag stay;
    /// the body, its digest and the key are those of the new bytes, so
    /// layers below see what is actually sent. A body that no longer
    /// scans makes the facts opaque.
    pub fn rewritten(&self, body: Bytes) -> RequestFacts {
        let inner = &self.inner;
        let scanned = SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => scan_body(&body, inner.kind, &mut scratch),
            Err(_) => scan_body(&body, inner.kind, &mut Scratch::new()),
        });
        let (kind, opaque, model, stream, digest) = match scanned {
            Ok(scanned) => (
                inner.kind,
                None,
                inner.model.clone().or(scanned.model),
                inner.stream || scanned.stream,
                Some(scanned.digest),
            ),
            Err(reason) => (ApiKind::Unknown, Some(reason), None, false, None),
        };
        let canonical_key = digest.as_ref().map(|digest| {
            derive_key(
                inner.method.as_str(),
                &inner.target,
                inner.credential.as_ref(),
                digest,
                inner.variant.as_ref(),
            )
        });
        RequestFacts {
            inner: Arc::new(Inner {
                kind,
                model,
                stream,
                body,
                opaque,
                method: inner.method.clone(),
                target: inner.target.clone(),
                credential: inner.credential,
                variant: inner.variant,
                body_digest: digest,
                canonical_key,
                json: OnceLock::new(),
            }),
        }
    }

    /// Facts for a request whose body could not be buffered (too large, or
    /// the body failed): only the head is known.
    pub fn opaque(parts: &Parts, reason: Opaque) -> RequestFacts {
        let target = Target::of(parts);
        RequestFacts {
            inner: Arc::new(Inner {
                kind: ApiKind::Unknown,
                model: None,
                stream: false,
                body: Bytes::new(),
                opaque: Some(reason),
                method: parts.method.clone(),
                target: target.text,
                credential: target.credential,
                variant: target.variant,
                body_digest: None,
                canonical_key: None,
                json: OnceLock::new(),
            }),
        }
    }

    /// The facts a previous layer stored in these extensions.
    pub fn from_extensions(extensions: &Extensions) -> Option<&RequestFacts> {
        extensions.get::<RequestFacts>()
    }

    /// Stores these facts for later layers.
    pub fn insert_into(&self, extensions: &mut Extensions) {
        extensions.insert(self.clone());
    }

    /// The API the request calls; `Unknown` when the path is not an LLM API
    /// or the body is not a JSON object.
    pub fn kind(&self) -> ApiKind {
        self.inner.kind
    }

    /// The provider of [`Self::kind`].
    pub fn provider(&self) -> Provider {
        self.inner.kind.provider()
    }

    /// The model asked for, from the body (`model`) or the path (Gemini).
    pub fn model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }

    /// Whether the request asks for a streamed (SSE) response.
    pub fn stream(&self) -> bool {
        self.inner.stream
    }

    /// The complete request body, as sent.
    pub fn body(&self) -> &Bytes {
        &self.inner.body
    }

    /// Why the body was not understood, if it was not.
    pub fn opaque_reason(&self) -> Option<Opaque> {
        self.inner.opaque
    }

    /// True for a known API with a JSON object body that names a model: the
    /// requests layers may act on. Anything else passes through untouched.
    pub fn is_understood(&self) -> bool {
        self.inner.kind != ApiKind::Unknown && self.inner.model.is_some()
    }

    /// The request method.
    pub fn method(&self) -> &str {
        self.inner.method.as_str()
    }

    /// Authority, path and query as they enter the key (host lower-cased,
    /// the `key` credential parameter removed).
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// The fingerprint of the request's credentials, if it carries any.
    pub fn credential(&self) -> Option<&CredentialFingerprint> {
        self.inner.credential.as_ref()
    }

    /// The canonical key, partitioned by credential; `None` when the body is
    /// not JSON.
    pub fn canonical_key(&self) -> Option<CanonicalKey> {
        self.inner.canonical_key
    }

    /// The canonical key without the credential, for caches that share
    /// answers across credentials on purpose.
    pub fn key_without_credential(&self) -> Option<CanonicalKey> {
        self.inner.body_digest.as_ref().map(|digest| {
            derive_key(
                self.inner.method.as_str(),
                &self.inner.target,
                None,
                digest,
                self.inner.variant.as_ref(),
            )
        })
    }

    /// The digest of the canonical body alone.
    pub fn body_digest(&self) -> Option<BodyDigest> {
        self.inner.body_digest
    }

    /// The body parsed as JSON, parsed at most once however many layers ask.
    /// `None` when the body is not JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.inner
            .json
            .get_or_init(|| {
                if self.inner.opaque.is_some() {
                    return None;
                }
                serde_json::from_slice(&self.inner.body).ok()
            })
            .as_ref()
    }
}

/// The request target as it enters the key, and the credential.
struct Target {
    text: String,
    credential: Option<CredentialFingerprint>,
    variant: Option<[u8; 32]>,
}

impl Target {
    fn of(parts: &Parts) -> Target {
        let authority = parts
            .uri
            .authority()
            .map(|authority| authority.as_str())
            .or_else(|| {
                parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|host| host.to_str().ok())
            })
            .unwrap_or_default();
        let (query, query_key) = match parts.uri.query() {
            Some(query) => split_query_credential(query),
            None => (String::new(), None),
        };
        let credential = credential_fingerprint(&parts.headers, query_key);
        let path = parts.uri.path();
        // One allocation, of the final size.
        let mut text = String::with_capacity(authority.len() + path.len() + 1 + query.len());
        text.push_str(authority);
        text.make_ascii_lowercase();
        text.push_str(path);
        if !query.is_empty() {
            text.push('?');
            text.push_str(&query);
        }
        Target {
            text,
            credential,
            variant: answer_variant(&parts.headers),
        }
    }
}

struct ScannedBody {
    model: Option<String>,
    stream: bool,
    digest: BodyDigest,
}

fn scan_body(body: &[u8], kind: ApiKind, scratch: &mut Scratch) -> Result<ScannedBody, Opaque> {
    let result = scan_into(body, kind, scratch);
    if scratch.nodes.capacity() * std::mem::size_of::<Node>() > SCRATCH_KEEP_BYTES {
        scratch.nodes = Vec::new();
    }
    if scratch.canonical.capacity_bytes() > SCRATCH_KEEP_BYTES {
        scratch.canonical = CanonicalBuffers::new();
    }
    result
}

fn scan_into(body: &[u8], kind: ApiKind, scratch: &mut Scratch) -> Result<ScannedBody, Opaque> {
    scan(body, &mut scratch.nodes).map_err(|error| match error {
        ScanError::TooDeep => Opaque::TooDeep,
        ScanError::Syntax | ScanError::TooLarge => Opaque::NotJson,
    })?;
    let nodes = &scratch.nodes;
    if nodes[0].kind != NodeKind::Object {
        return Err(Opaque::NotObject);
    }
    write_canonical(body, nodes, kind.key_exclusions(), &mut scratch.canonical);
    let digest = body_digest(&scratch.canonical.out);
    let mut model = None;
    let mut stream = false;
    let mut child = 1;
    while child < nodes[0].next {
        let key = nodes[child as usize];
        let value = nodes[key.next as usize];
        match &body[key.span()] {
            b"\"model\"" if value.kind == NodeKind::String => {
                model = string_value(body, &value);
            }
            b"\"stream\"" => stream = &body[value.span()] == b"true",
            _ => {}
        }
        child = value.next;
    }
    Ok(ScannedBody {
        model,
        stream,
        digest,
    })
}

/// The text of a scanned string node.
fn string_value(body: &[u8], node: &Node) -> Option<String> {
    let raw = &body[node.span()];
    if node.escaped {
        return serde_json::from_slice(raw).ok();
    }
    let inner = &raw[1..raw.len() - 1];
    std::str::from_utf8(inner).ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> RequestFacts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        RequestFacts::from_parts(&parts, Bytes::from(body.to_owned()))
    }

    const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

    #[test]
    fn chat_request_facts() {
        let f = facts("POST", "http://api.test/v1/chat/completions", &[], CHAT);
        assert_eq!(f.kind(), ApiKind::OpenAiChat);
        assert_eq!(f.provider(), Provider::OpenAi);
        assert_eq!(f.model(), Some("gpt-4o-mini"));
        assert!(!f.stream());
        assert!(f.is_understood());
        assert_eq!(f.target(), "api.test/v1/chat/completions");
        assert_eq!(f.json().unwrap()["model"], "gpt-4o-mini");
    }

    #[test]
    fn escaped_model_names_are_decoded() {
        let f = facts(
            "POST",
            "/v1/messages",
            &[],
            r#"{"model":"claude-\u0033","stream":true,"max_tokens":5,"messages":[]}"#,
        );
        assert_eq!(f.kind(), ApiKind::AnthropicMessages);
        assert_eq!(f.model(), Some("claude-3"));
        assert!(f.stream());
    }

    #[test]
    fn gemini_model_and_stream_come_from_the_path() {
        let f = facts(
            "POST",
            "https://g.test/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=SECRET",
            &[],
            r#"{"contents":[]}"#,
        );
        assert_eq!(f.kind(), ApiKind::GeminiGenerateContent);
        assert_eq!(f.model(), Some("gemini-2.0-flash"));
        assert!(f.stream());
        assert!(f.credential().is_some());
        assert!(!f.target().contains("SECRET"));
    }

    #[test]
    fn bad_bodies_are_opaque_and_unknown() {
        for (body, reason) in [
            ("{not json", Opaque::NotJson),
            ("[1,2]", Opaque::NotObject),
            ("\u{0}", Opaque::NotJson),
        ] {
            let f = facts("POST", "/v1/chat/completions", &[], body);
            assert_eq!(f.kind(), ApiKind::Unknown);
            assert_eq!(f.opaque_reason(), Some(reason));
            assert_eq!(f.canonical_key(), None);
            assert!(!f.is_understood());
            assert_eq!(f.body().as_ref(), body.as_bytes());
        }
        let missing_model = facts("POST", "/v1/chat/completions", &[], r#"{"messages":[]}"#);
        assert_eq!(missing_model.kind(), ApiKind::OpenAiChat);
        assert!(!missing_model.is_understood());
    }

    #[test]
    fn key_ignores_key_order_whitespace_and_excluded_fields() {
        let a = facts("POST", "http://h/v1/chat/completions", &[], CHAT);
        let b = facts(
            "POST",
            "http://h/v1/chat/completions",
            &[],
            r#"{ "messages": [ {"content":"hi", "role":"user"} ], "user": "u-42", "model": "gpt-4o-mini" }"#,
        );
        assert_eq!(a.canonical_key(), b.canonical_key());
    }

    #[test]
    fn key_changes_with_every_part_of_the_request() {
        let base = facts("POST", "http://h/v1/chat/completions", &[], CHAT).canonical_key();
        let changed = [
            facts(
                "POST",
                "http://h/v1/chat/completions",
                &[],
                &CHAT.replace("hi", "ho"),
            ),
            facts("POST", "http://other/v1/chat/completions", &[], CHAT),
            facts("POST", "http://h/v1/chat/completions?x=1", &[], CHAT),
            facts(
                "POST",
                "http://h/v1/chat/completions",
                &[("authorization", "Bearer a")],
                CHAT,
            ),
            facts(
                "POST",
                "http://h/v1/chat/completions",
                &[],
                &CHAT.replace("}]}", r#"}],"new_param":1}"#),
            ),
            facts(
                "POST",
                "http://h/v1/chat/completions",
                &[],
                &CHAT.replace("}]}", r#"}],"stream":true}"#),
            ),
        ];
        for other in changed {
            assert_ne!(other.canonical_key(), base, "{}", other.target());
        }
    }

    #[test]
    fn key_without_credential_is_shared_across_credentials() {
        let a = facts(
            "POST",
            "http://h/v1/chat/completions",
            &[("authorization", "Bearer a")],
            CHAT,
        );
        let b = facts(
            "POST",
            "http://h/v1/chat/completions",
            &[("authorization", "Bearer b")],
            CHAT,
        );
        assert_ne!(a.canonical_key(), b.canonical_key());
        assert_eq!(a.key_without_credential(), b.key_without_credential());
    }

    #[test]
    fn responses_api_keeps_echoed_fields_in_the_key() {
        let a = facts(
            "POST",
            "/v1/responses",
            &[],
            r#"{"model":"m","input":"x","user":"a"}"#,
        );
        let b = facts(
            "POST",
            "/v1/responses",
            &[],
            r#"{"model":"m","input":"x","user":"b"}"#,
        );
        assert_ne!(a.canonical_key(), b.canonical_key());
    }
}
