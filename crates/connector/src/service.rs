//! The connector as a `tower::Service`: sends requests over the pool, which
//! tags each response with the connection it came over and types every
//! error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::limit::ConcurrencyLimit;
use tower::util::Either;
use tower::Service;

use crate::body::UpstreamBody;
use crate::error::ConnectorError;
use crate::pool::Pool;
use crate::stats::{PoolSnapshot, PoolStats};

/// The request bodies the connector can send: what hyper-util's client
/// needs, named once.
pub trait RequestBody:
    http_body::Body<Data: Send, Error: Into<crate::BoxError>> + Send + Unpin + 'static
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data: Send, Error: Into<crate::BoxError>> + Send + Unpin + 'static
{
}

/// The pooled client at the bottom of the stack. Cheap to clone: clones
/// share the pool and the statistics.
pub struct HyperConnector<B> {
    pub(crate) inner: Either<ConcurrencyLimit<PooledClient<B>>, PooledClient<B>>,
    pub(crate) stats: Arc<PoolStats>,
}

impl<B> Clone for HyperConnector<B> {
    fn clone(&self) -> Self {
        HyperConnector {
            inner: self.inner.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<B> std::fmt::Debug for HyperConnector<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperConnector")
            .field("stats", &self.stats.snapshot())
            .finish_non_exhaustive()
    }
}

impl HyperConnector<()> {
    /// A builder with the documented defaults.
    pub fn builder() -> crate::HyperConnectorBuilder {
        crate::HyperConnectorBuilder::default()
    }
}

impl<B> HyperConnector<B> {
    /// Pool statistics so far.
    pub fn stats(&self) -> PoolSnapshot {
        self.stats.snapshot()
    }
}

impl<B> Service<Request<B>> for HyperConnector<B>
where
    B: RequestBody,
{
    type Response = Response<UpstreamBody>;
    type Error = ConnectorError;
    type Future = tower::util::future::EitherResponseFuture<
        tower::limit::concurrency::future::ResponseFuture<ResponseFuture>,
        ResponseFuture,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectorError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.inner.call(request)
    }
}

/// The pool, as a service.
pub(crate) struct PooledClient<B> {
    pub pool: Pool<B>,
}

impl<B> Clone for PooledClient<B> {
    fn clone(&self) -> Self {
        PooledClient {
            pool: self.pool.clone(),
        }
    }
}

impl<B> Service<Request<B>> for PooledClient<B>
where
    B: RequestBody,
{
    type Response = Response<UpstreamBody>;
    type Error = ConnectorError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectorError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let pool = self.pool.clone();
        ResponseFuture {
            inner: Box::pin(async move { pool.send(request).await }),
        }
    }
}

/// The response future: the request's way through the pool.
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<Response<UpstreamBody>, ConnectorError>> + Send>>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<UpstreamBody>, ConnectorError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}
