//! The service: a request that can join a batch waits for its batch (at
//! most the window) and gets its share of the batched answer; anything
//! else, and a member whose batch had nobody else or failed, is sent on as
//! it came.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{header, HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, Limited};
use llm_layers_core::body::ReplayBody;
use llm_layers_core::facts::{with_facts, FactsFuture};
use llm_layers_core::{ApiKind, RequestFacts};
use tower::{BoxError, Service, ServiceExt};

use crate::batcher::{Answered, Batcher, Outcome, Send};
use crate::member::joining;

/// Coalesces concurrent embeddings requests; built by
/// [`crate::EmbeddingsBatchLayer`].
#[derive(Clone)]
pub struct EmbeddingsBatch<S> {
    pub(crate) inner: S,
    pub(crate) batcher: Arc<Batcher>,
}

/// The body of an [`EmbeddingsBatch`] answer: the upstream's own (a
/// request sent alone), or a member's share of a batched answer.
pub type ResponseBody<B> = Either<B, Full<Bytes>>;

/// The response future of [`EmbeddingsBatch`].
pub type ResponseFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + std::marker::Send>>;

impl<S, B, ResBody> Service<Request<B>> for EmbeddingsBatch<S>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>>
        + Clone
        + std::marker::Send
        + 'static,
    S::Future: std::marker::Send + 'static,
    S::Error: std::marker::Send + 'static,
    B: Body + std::marker::Send + Unpin + 'static,
    B::Data: Buf + std::marker::Send,
    B::Error: std::marker::Send,
    ResBody: Body<Data = Bytes> + std::marker::Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let facts = match with_facts(request, self.batcher.config.max_request_bytes) {
            // Known not to be an embeddings call (every chat call in a
            // stack): sent on at once, with nothing kept for it.
            FactsFuture::Ready(Some(request)) if !may_join(&request) => {
                let call = self.inner.call(request);
                return Box::pin(async move { Ok(call.await?.map(Either::Left)) });
            }
            facts => facts,
        };
        // The ready service goes into the future; a clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let batcher = self.batcher.clone();
        Box::pin(async move {
            let request = facts.await;
            let facts = RequestFacts::from_extensions(request.extensions()).cloned();
            let joining = facts
                .as_ref()
                .filter(|_| tokio::runtime::Handle::try_current().is_ok())
                .and_then(|facts| joining(facts, &*batcher.config.estimator))
                .filter(|joining| batcher.fits(joining));
            if let (Some(joining), Some(facts)) = (joining, facts) {
                // A batch's own service is cloned only when this request starts one.
                let told =
                    batcher.join(joining, || sender(inner.clone(), &request, facts, &batcher));
                if let Ok(Outcome::Answer(answer)) = told.await {
                    return Ok(member_answer(answer));
                }
            }
            let response = inner.call(request).await?;
            Ok(response.map(Either::Left))
        })
    }
}

/// Whether a request with its facts known is an embeddings call, which may
/// join a batch.
fn may_join<B>(request: &Request<B>) -> bool {
    RequestFacts::from_extensions(request.extensions())
        .is_some_and(|facts| facts.kind() == ApiKind::OpenAiEmbeddings)
}

/// How a batch led by `request` goes upstream: with its head (headers,
/// extensions, facts rewritten for the batch's body) through `inner`.
fn sender<S, B, ResBody>(
    inner: S,
    request: &Request<ReplayBody<B>>,
    facts: RequestFacts,
    batcher: &Batcher,
) -> Send
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + std::marker::Send + 'static,
    S::Future: std::marker::Send + 'static,
    B: Body + std::marker::Send + 'static,
    B::Data: std::marker::Send,
    B::Error: std::marker::Send,
    ResBody: Body<Data = Bytes> + std::marker::Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let (method, uri, version) = (
        request.method().clone(),
        request.uri().clone(),
        request.version(),
    );
    let headers = request.headers().clone();
    let extensions = request.extensions().clone();
    let limit = batcher.config.max_response_bytes;
    Box::new(move |body: Bytes| {
        Box::pin(async move {
            let mut batch = Request::new(ReplayBody::complete(body.clone(), None));
            *batch.method_mut() = method;
            *batch.uri_mut() = uri;
            *batch.version_mut() = version;
            *batch.headers_mut() = headers;
            *batch.extensions_mut() = extensions;
            if batch.headers().contains_key(header::CONTENT_LENGTH) {
                batch
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
            // Layers below see facts that describe the batch's bytes.
            facts.rewritten(body).insert_into(batch.extensions_mut());
            let response = inner.oneshot(batch).await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, limit).collect().await.ok()?.to_bytes();
            Some(Answered {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        })
    })
}

fn member_answer<B>(answer: Answered) -> Response<ResponseBody<B>> {
    let mut response = Response::new(Either::Right(Full::new(answer.body)));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    response
}
