//! The service: learns the request facts (from an earlier layer, or by
//! buffering the body once), rewrites the body, and reads the response's
//! usage as it streams back.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{header, HeaderValue, Request, Response};
use http_body::Body;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::body::TapBody;
use llm_layers_core::facts::AroundCall;
use llm_layers_core::RequestFacts;
use tower::Service;

use crate::observer::{Diagnose, PrefixObserver};
use crate::report::StaticContent;
use crate::rewrite::Rewriter;
use crate::stats::PrefixStats;

/// Rewrites requests for provider prompt caches; built by [`crate::PromptPrefixLayer`].
#[derive(Clone)]
pub struct PromptPrefix<S> {
    pub(crate) inner: S,
    pub(crate) rewriter: Arc<Rewriter>,
    pub(crate) stats: PrefixStats,
}

impl<S, B, ResBody> Service<Request<B>> for PromptPrefix<S>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let limit = self.rewriter.config.max_request_bytes;
        let call = PrefixCall {
            rewriter: self.rewriter.clone(),
            stats: self.stats.clone(),
            observer: None,
        };
        ResponseFuture::call::<ResBody>(&mut self.inner, request, limit, call)
    }
}

llm_layers_core::around_layer_types!(
    call: PrefixCall,
    observer: PrefixObserver,
    error: S::Error,
    service: "PromptPrefix"
);

/// One call: its rewrite, then its response's usage.
pub(crate) struct PrefixCall {
    rewriter: Arc<Rewriter>,
    stats: PrefixStats,
    /// Boxed: made before the call, it would otherwise make the call's
    /// future (moved up through the layers above) hundreds of bytes larger.
    observer: Option<Box<PrefixObserver>>,
}

impl<B, ResBody, E> AroundCall<B, ResBody, E> for PrefixCall
where
    B: Body,
    ResBody: Body<Data = Bytes>,
{
    type Output = Result<Response<TapBody<ResBody, PrefixObserver>>, E>;

    fn before(&mut self, request: Request<ReplayBody<B>>) -> Request<ReplayBody<B>> {
        let (request, observer) = prepare(request, &self.rewriter, &self.stats);
        self.observer = Some(Box::new(observer));
        request
    }

    fn after(self, result: Result<Response<ResBody>, E>) -> Self::Output {
        let mut response = result?;
        let mut observer = self.observer.expect("an observer is made before calling");
        observer.watch(&mut response);
        Ok(response.map(|body| TapBody::with_boxed(body, observer)))
    }
}

/// Rewrites the request (or leaves it untouched) and makes the observer
/// that will credit its response's usage to its prefix.
fn prepare<B: Body>(
    mut request: Request<ReplayBody<B>>,
    rewriter: &Rewriter,
    stats: &PrefixStats,
) -> (Request<ReplayBody<B>>, PrefixObserver) {
    let Some(facts) = RequestFacts::from_extensions(request.extensions()).cloned() else {
        stats.untouched("not_understood");
        return (request, PrefixObserver::idle());
    };
    if !facts.is_understood() {
        stats.untouched("not_understood");
        return (request, PrefixObserver::idle());
    }
    // A body too short for any prefix of it to reach the provider's
    // minimum gains nothing from a rewrite (no provider caches it): it is
    // forwarded as it came, without being parsed again.
    let config = &rewriter.config;
    let minimum = config.minimums.minimum(facts.provider(), facts.model());
    if !config.rewrite_short_requests && config.estimator.most_tokens(facts.body().len()) < minimum
    {
        stats.untouched("too_short");
        return (request, PrefixObserver::idle());
    }
    let statics = request
        .extensions()
        .get::<StaticContent>()
        .map_or(&[][..], |content| content.0.as_slice());
    let Some(rewritten) = rewriter.rewrite(&facts, statics) else {
        stats.untouched("unsupported_api");
        return (request, PrefixObserver::idle());
    };
    let row = stats.request(&rewritten.report, facts.model().unwrap_or("unknown"));
    if let Some(body) = rewritten.body {
        // Layers below see facts that describe the bytes actually sent.
        facts
            .rewritten(body.clone())
            .insert_into(request.extensions_mut());
        replace_body(&mut request, body);
    }
    request.extensions_mut().insert(rewritten.report);
    let diagnose = (!rewritten.shape.is_empty()).then(|| {
        let model = facts.model().unwrap_or("unknown").to_owned();
        let mut key = blake3::Hasher::new();
        key.update(facts.credential().map_or(&[0u8; 32], |c| c.as_bytes()));
        key.update(facts.target().as_bytes());
        key.update(b"\0");
        key.update(model.as_bytes());
        Diagnose {
            stats: stats.clone(),
            key: *key.finalize().as_bytes(),
            model,
            shape: rewritten.shape,
        }
    });
    let observer = PrefixObserver::new(
        row,
        rewritten.report,
        facts.kind(),
        rewriter.config.max_response_bytes,
        diagnose,
    );
    (request, observer)
}

/// Sends `body` instead of the original, with its length corrected.
fn replace_body<B: Body>(request: &mut Request<ReplayBody<B>>, body: Bytes) {
    if request.headers().contains_key(header::CONTENT_LENGTH) {
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    *request.body_mut() = ReplayBody::complete(body, None);
}
