//! The service: learns the request facts (from an earlier layer, or by
//! buffering the body once), rewrites the body, and reads the response's
//! usage as it streams back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http::{header, HeaderValue, Request, Response};
use http_body::Body;
use llm_layers_core::buffer::ReplayBody;
use llm_layers_core::prepare::{with_facts, FactsFuture};
use llm_layers_core::tap::TapBody;
use llm_layers_core::usage_reader::ResponseUsage;
use llm_layers_core::RequestFacts;
use pin_project_lite::pin_project;
use tower::Service;

use crate::observer::PrefixObserver;
use crate::report::{PrefixReport, StaticContent};
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
    type Response = Response<TapBody<ResBody, PrefixObserver>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The ready service goes into the future; a clone stays for the next call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let limit = self.rewriter.config.max_request_bytes;
        ResponseFuture {
            state: State::Preparing {
                facts: with_facts(request, limit),
                inner: Some(inner),
            },
            service: Some((self.rewriter.clone(), self.stats.clone())),
            observer: None,
        }
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
        B: Body,
    {
        Preparing {
            facts: FactsFuture<B>,
            inner: Option<S>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
    }
}

pin_project! {
    /// The response future of [`PromptPrefix`].
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
        B: Body,
    {
        #[pin]
        state: State<S, B>,
        service: Option<(Arc<Rewriter>, PrefixStats)>,
        observer: Option<PrefixObserver>,
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>>,
    B: Body + Unpin,
    ResBody: Body<Data = Bytes>,
{
    type Output = Result<Response<TapBody<ResBody, PrefixObserver>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProjection::Preparing { facts, inner } => {
                    let request = ready!(Pin::new(facts).poll(cx));
                    let mut inner = inner.take().expect("the preparing state is left once");
                    let (rewriter, stats) = this.service.take().expect("prepared once");
                    let (request, observer) = prepare(request, &rewriter, &stats);
                    *this.observer = Some(observer);
                    let future = inner.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProjection::Calling { future } => {
                    let mut response = ready!(future.poll(cx))?;
                    let observer = this
                        .observer
                        .take()
                        .expect("an observer is made before calling");
                    let observer = observer.watching(&mut response);
                    return Poll::Ready(Ok(response.map(|body| TapBody::new(body, observer))));
                }
            }
        }
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
        replace_body(&mut request, body);
    }
    request.extensions_mut().insert(rewritten.report);
    let observer = PrefixObserver::new(
        row,
        rewritten.report,
        facts.kind(),
        rewriter.config.max_response_bytes,
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

impl PrefixObserver {
    /// Puts the report in the response and chooses how to read its usage.
    fn watching<B>(self, response: &mut Response<B>) -> PrefixObserver {
        match self.report() {
            Some(report) => {
                response.extensions_mut().insert::<PrefixReport>(report);
                let reader = ResponseUsage::for_response(self.kind(), response, self.json_limit());
                self.with_reader(reader)
            }
            None => self,
        }
    }
}
