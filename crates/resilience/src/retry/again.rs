//! A copy of a request to send again: its head, and the bytes the layers
//! above prepared (the request's facts hold them, rewritten if a layer
//! rewrote the body).

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Request, Uri, Version};
use http_body::Body;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::RequestFacts;

/// What is needed to send a request again.
pub(crate) struct Again {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
}

impl Again {
    /// A copy of `request`, when its whole body is known.
    pub fn of<B>(request: &Request<B>) -> Option<Again> {
        let facts = RequestFacts::from_extensions(request.extensions())?;
        facts.has_whole_body().then(|| Again {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
            body: facts.body().clone(),
        })
    }

    /// The request, once more.
    pub fn request<B: Body>(&self) -> Request<ReplayBody<B>> {
        let mut request = Request::new(ReplayBody::complete(self.body.clone(), None));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.clone();
        *request.extensions_mut() = self.extensions.clone();
        request
    }
}
