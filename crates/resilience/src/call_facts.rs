//! What the resilience layers learn of a call before sending it: its facts
//! (from an earlier layer, or by buffering the body once), its API and its
//! model.

use bytes::Buf;
use http::Request;
use http_body::Body;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::facts::with_facts;
use llm_layers_core::{ApiKind, CredentialFingerprint, RequestFacts};

/// The model of a call whose facts do not name one.
pub(crate) const UNKNOWN_MODEL: &str = "unknown";

/// A call about to be sent.
pub(crate) struct CallFacts<B: Body> {
    pub request: Request<ReplayBody<B>>,
    /// The API, for the shape of a layer's own errors.
    pub kind: ApiKind,
    pub model: String,
    pub credential: Option<CredentialFingerprint>,
}

/// `request` with its facts, buffering at most `limit` bytes.
pub(crate) async fn call_facts<B>(request: Request<B>, limit: usize) -> CallFacts<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
{
    let request = with_facts(request, limit).await;
    let facts = RequestFacts::from_extensions(request.extensions());
    let kind = facts.map_or(ApiKind::Unknown, RequestFacts::kind);
    let model = facts
        .and_then(RequestFacts::model)
        .unwrap_or(UNKNOWN_MODEL)
        .to_owned();
    let credential = facts.and_then(RequestFacts::credential).copied();
    CallFacts {
        request,
        kind,
        model,
        credential,
    }
}
