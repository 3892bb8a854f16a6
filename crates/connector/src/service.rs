//! The connector as a `tower::Service`: sends requests over the pool, tags
//! each response with the connection it came over, types every error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::{self, Client};
use tower::limit::ConcurrencyLimit;
use tower::util::Either;
use tower::Service;

use crate::connect::Connect;
use crate::error::{classify, ConnectorError};
use crate::stats::{ConnectionMeta, PoolSnapshot, PoolStats};

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
    type Response = Response<Incoming>;
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

/// hyper-util's client with the statistics beside it.
pub(crate) struct PooledClient<B> {
    pub client: Client<Connect, B>,
    pub stats: Arc<PoolStats>,
}

impl<B> Clone for PooledClient<B> {
    fn clone(&self) -> Self {
        PooledClient {
            client: self.client.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<B> Service<Request<B>> for PooledClient<B>
where
    B: RequestBody,
{
    type Response = Response<Incoming>;
    type Error = ConnectorError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectorError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        ResponseFuture {
            inner: self.client.request(request),
            stats: self.stats.clone(),
        }
    }
}

/// The response future: the client's, plus the connection bookkeeping.
pub struct ResponseFuture {
    inner: legacy::ResponseFuture,
    stats: Arc<PoolStats>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<Incoming>, ConnectorError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut response = ready!(Pin::new(&mut this.inner).poll(cx)).map_err(classify)?;
        if let Some(meta) = response.extensions_mut().remove::<ConnectionMeta>() {
            let connection = this.stats.served(&meta);
            response.extensions_mut().insert(connection);
        }
        Poll::Ready(Ok(response))
    }
}
