//! Request facts: what every layer needs to know about a request, worked
//! out once and kept in the request's extensions.
//!
//! The first layer that needs facts buffers the body (see
//! [`crate::body::collect_limited`]), calls [`RequestFacts::from_parts`]
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

mod call;
pub(crate) mod key;
mod layer_types;
mod memo;
mod prepare;
mod scan;
mod target;

pub use call::{AroundCall, AroundFuture};
pub use key::{
    answer_variant, credential_fingerprint, derive_key, BodyDigest, CanonicalKey,
    CredentialFingerprint, ANSWER_HEADERS, CREDENTIAL_HEADERS, CREDENTIAL_QUERY_PARAM,
    KEY_FORMAT_VERSION, OWNER_HEADERS,
};
pub use prepare::{with_facts, FactsFuture};

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::request::Parts;
use http::Extensions;

use crate::api::{route, ApiKind, Provider};
use crate::json::with_scratch;
use scan::{scan_body, SCRATCH};
use target::Target;

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

impl RequestFacts {
    /// Works out the facts of a request from its head and its complete body.
    pub fn from_parts(parts: &Parts, body: Bytes) -> RequestFacts {
        let route = route(&parts.method, parts.uri.path());
        let from_path = (route.kind, route.path_model, route.path_stream);
        RequestFacts::scanned(parts.method.clone(), Target::of(parts), from_path, body)
    }

    /// The facts of the same request with `body` sent instead (a layer
    /// rewrote it): method, target, credential, API and stream flag stay;
    /// the body, its digest and the key are those of the new bytes, so
    /// layers below see what is actually sent. A body that no longer
    /// scans makes the facts opaque.
    pub fn rewritten(&self, body: Bytes) -> RequestFacts {
        let inner = &self.inner;
        let target = Target {
            text: inner.target.clone(),
            credential: inner.credential,
            variant: inner.variant,
        };
        let known = (inner.kind, inner.model.clone(), inner.stream);
        RequestFacts::scanned(inner.method.clone(), target, known, body)
    }

    /// Facts from one scan of `body`; `known` is the API, and the model
    /// and stream flag known before the body (from the path, or from the
    /// facts of the body it replaces), which the body's own fill in.
    fn scanned(
        method: http::Method,
        target: Target,
        known: (ApiKind, Option<String>, bool),
        body: Bytes,
    ) -> RequestFacts {
        let (known_kind, known_model, known_stream) = known;
        // A body seen lately (with the same API and credential) is not
        // scanned again: see `memo`.
        let (scanned, made_keys) =
            memo::scanned(known_kind, target.credential.as_ref(), &body, || {
                with_scratch(&SCRATCH, |scratch| scan_body(&body, known_kind, scratch))
            });
        let (kind, opaque, model, stream, digest) = match scanned {
            Ok(scanned) => (
                known_kind,
                None,
                known_model.or(scanned.model),
                known_stream || scanned.stream,
                Some(scanned.digest),
            ),
            Err(reason) => (ApiKind::Unknown, Some(reason), None, false, None),
        };
        let canonical_key = digest.as_ref().map(|digest| {
            made_keys.key(&method, &target.text, target.variant.as_ref(), || {
                derive_key(
                    method.as_str(),
                    &target.text,
                    target.credential.as_ref(),
                    digest,
                    target.variant.as_ref(),
                )
            })
        });
        RequestFacts {
            inner: Arc::new(Inner {
                kind,
                model,
                stream,
                body,
                opaque,
                method,
                target: target.text,
                credential: target.credential,
                variant: target.variant,
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

    /// Whether [`RequestFacts::body`] is the whole body (it was not too
    /// large to buffer, and did not fail), so the request can be sent again.
    pub fn has_whole_body(&self) -> bool {
        !matches!(
            self.inner.opaque,
            Some(Opaque::TooLarge | Opaque::BodyError)
        )
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

#[cfg(test)]
mod tests;
