//! The shape every request-facts layer shares: learn the facts (from an
//! earlier layer, or by buffering the body once), do the layer's work on
//! the request, call the inner service, do the layer's work on the result.
//!
//! A layer implements [`AroundCall`] for its per-call state and returns
//! [`AroundFuture`] from `Service::call`; the future drives the rest.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use llm_layers_core::facts::{AroundCall, AroundFuture};
//! use llm_layers_core::body::ReplayBody;
//! use llm_layers_core::RequestFacts;
//! use tower::{service_fn, ServiceExt};
//!
//! /// Tags each response with the request's model.
//! struct TagModel(Option<String>);
//!
//! impl<B: http_body::Body, R, E> AroundCall<B, R, E> for TagModel {
//!     type Output = Result<Response<R>, E>;
//!     fn before(&mut self, request: Request<ReplayBody<B>>) -> Request<ReplayBody<B>> {
//!         let facts = RequestFacts::from_extensions(request.extensions());
//!         self.0 = facts.and_then(|f| f.model()).map(str::to_owned);
//!         request
//!     }
//!     fn after(self, result: Result<Response<R>, E>) -> Self::Output {
//!         result.map(|mut response| {
//!             let model = self.0.unwrap_or_default();
//!             response.headers_mut().insert("x-model", model.parse().unwrap());
//!             response
//!         })
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let inner = service_fn(|_: Request<ReplayBody<Full<Bytes>>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(()))
//! });
//! let request = Request::post("/v1/chat/completions")
//!     .body(Full::new(Bytes::from_static(br#"{"model":"gpt-4o","messages":[]}"#)))
//!     .unwrap();
//! let response = AroundFuture::new(inner, request, 1 << 20, TagModel(None)).await.unwrap();
//! assert_eq!(response.headers()["x-model"], "gpt-4o");
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::ReplayBody;
use crate::facts::{with_facts, FactsFuture};

/// A layer's work around one inner call.
pub trait AroundCall<B: Body, ResBody, E> {
    /// What the layer's service answers.
    type Output;
    /// The request, with its facts in the extensions; returns the request
    /// to send on.
    fn before(&mut self, request: Request<ReplayBody<B>>) -> Request<ReplayBody<B>>;
    /// The inner service's result.
    fn after(self, result: Result<Response<ResBody>, E>) -> Self::Output;
}

pin_project! {
    #[project = StateProjection]
    enum State<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
        B: Body,
    {
        // Boxed: inside a stack the facts are always known and a layer
        // calls its inner service at once; the future (moved up through
        // every layer) is then the size of its call, not of a request.
        Preparing {
            preparing: Box<Preparing<S, B>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
    }
}

/// Buffering the body, with the ready inner service to call after.
struct Preparing<S, B: Body> {
    facts: FactsFuture<B>,
    inner: Option<S>,
}

pin_project! {
    /// Prepares the request, calls the inner service, hands the result to
    /// the layer's [`AroundCall`].
    pub struct AroundFuture<S, B, A>
    where
        S: Service<Request<ReplayBody<B>>>,
        B: Body,
    {
        #[pin]
        state: State<S, B>,
        around: Option<A>,
    }
}

impl<S, B, A> AroundFuture<S, B, A>
where
    S: Service<Request<ReplayBody<B>>>,
    B: Body + Send + Unpin + 'static,
    B::Error: Send,
    B::Data: Send,
{
    /// The call of `request` through `inner` (a ready service), buffering
    /// the body up to `limit` bytes if no earlier layer did.
    pub fn new(inner: S, request: Request<B>, limit: usize, around: A) -> Self {
        AroundFuture {
            state: State::Preparing {
                preparing: Box::new(Preparing {
                    facts: with_facts(request, limit),
                    inner: Some(inner),
                }),
            },
            around: Some(around),
        }
    }

    /// The same, from a `Service::call`: when an earlier layer already
    /// stored the facts (always, inside an `LlmStack`), the layer's
    /// [`AroundCall::before`] runs and `inner` is called at once, as tower
    /// expects of a ready service; only a request whose body must first be
    /// buffered takes the ready service along (a clone stays in its place).
    pub fn call<ResBody>(inner: &mut S, request: Request<B>, limit: usize, mut around: A) -> Self
    where
        S: Clone,
        A: AroundCall<B, ResBody, S::Error>,
    {
        match with_facts(request, limit) {
            FactsFuture::Ready(Some(request)) => AroundFuture {
                state: State::Calling {
                    future: inner.call(around.before(request)),
                },
                around: Some(around),
            },
            facts => {
                let clone = inner.clone();
                AroundFuture {
                    state: State::Preparing {
                        preparing: Box::new(Preparing {
                            facts,
                            inner: Some(std::mem::replace(inner, clone)),
                        }),
                    },
                    around: Some(around),
                }
            }
        }
    }
}

impl<S, B, A, ResBody> Future for AroundFuture<S, B, A>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>>,
    B: Body + Unpin,
    A: AroundCall<B, ResBody, S::Error>,
{
    type Output = A::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProjection::Preparing { preparing } => {
                    let Preparing { facts, inner } = &mut **preparing;
                    let request = ready!(Pin::new(facts).poll(cx));
                    let mut inner = inner.take().expect("the preparing state is left once");
                    let around = this.around.as_mut().expect("present until the end");
                    let future = inner.call(around.before(request));
                    this.state.set(State::Calling { future });
                }
                StateProjection::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    let around = this.around.take().expect("a future ends once");
                    return Poll::Ready(around.after(result));
                }
            }
        }
    }
}
