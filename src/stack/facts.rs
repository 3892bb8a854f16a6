//! The top of a stack: the request's facts worked out once, with the
//! stack's one buffering limit, before any layer runs (a layer's own limit
//! then never applies: it applies only to a layer used alone).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use http::Request;
use http_body::Body;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::facts::{with_facts, FactsFuture};
use pin_project_lite::pin_project;
use tower::Service;

/// Works out the facts, then calls `inner`.
#[derive(Clone)]
pub(crate) struct FactsFirst<S> {
    pub inner: S,
    pub limit: usize,
}

impl<S, B> Service<Request<B>> for FactsFirst<S>
where
    S: Service<Request<ReplayBody<B>>> + Clone,
    B: Body + Send + Unpin + 'static,
    B::Error: Send,
    B::Data: Send,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = FactsFirstFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut facts = with_facts(request, self.limit);
        // A body already whole (the proxy's, a client's `Full`) gives its
        // facts at the first poll: the ready service is then called now.
        // (A body still arriving is polled again, with the caller's waker,
        // when the future is.)
        let mut now = Context::from_waker(Waker::noop());
        if let Poll::Ready(request) = Pin::new(&mut facts).poll(&mut now) {
            return FactsFirstFuture::Calling {
                future: self.inner.call(request),
            };
        }
        // The ready service goes into the future; a clone stays for the next call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        FactsFirstFuture::Preparing {
            facts,
            inner: Some(inner),
        }
    }
}

pin_project! {
    /// Buffering the body, then the inner call.
    #[project = Projection]
    pub(crate) enum FactsFirstFuture<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
        B: Body,
    {
        Preparing { facts: FactsFuture<B>, inner: Option<S> },
        Calling { #[pin] future: S::Future },
    }
}

impl<S, B> Future for FactsFirstFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>>,
    B: Body + Unpin,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                Projection::Preparing { facts, inner } => {
                    let request = ready!(Pin::new(facts).poll(cx));
                    let Some(mut inner) = inner.take() else {
                        unreachable!("the inner service is taken once")
                    };
                    let future = inner.call(request);
                    self.set(FactsFirstFuture::Calling { future });
                }
                Projection::Calling { future } => return future.poll(cx),
            }
        }
    }
}
