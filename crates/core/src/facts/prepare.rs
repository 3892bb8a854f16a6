//! Getting a request's facts, whichever layer comes first.
//!
//! [`with_facts`] hands back the request with [`RequestFacts`] in its
//! extensions: at once when an earlier layer stored them, or after
//! buffering the body (once, up to a limit) and working them out. Either
//! way the body becomes a [`ReplayBody`] that yields exactly what the
//! original would have.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use llm_layers_core::facts::with_facts;
//! use llm_layers_core::RequestFacts;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let request = http::Request::post("/v1/embeddings")
//!     .body(Full::new(Bytes::from_static(br#"{"model":"e","input":"x"}"#)))
//!     .unwrap();
//! let request = with_facts(request, 1 << 20).await;
//! let facts = RequestFacts::from_extensions(request.extensions()).unwrap();
//! assert_eq!(facts.model(), Some("e"));
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::request::Parts;
use http::Request;
use http_body::Body;

use crate::body::{collect_limited, Collected, ReplayBody};
use crate::facts::RequestFacts;

type Collecting<B> = Pin<Box<dyn Future<Output = Collected<B>> + Send>>;

/// The request with its facts, ready now or once the body is buffered.
pub enum FactsFuture<B: Body> {
    /// An earlier layer stored the facts.
    Ready(Option<Request<ReplayBody<B>>>),
    /// Buffering the body.
    Collecting {
        /// The buffering.
        collect: Collecting<B>,
        /// The request head, waiting for the body.
        parts: Option<Parts>,
    },
}

/// The request with [`RequestFacts`] in its extensions (see the module
/// documentation).
pub fn with_facts<B>(request: Request<B>, limit: usize) -> FactsFuture<B>
where
    B: Body + Send + Unpin + 'static,
    B::Error: Send,
    B::Data: Send,
{
    let (parts, body) = request.into_parts();
    if RequestFacts::from_extensions(&parts.extensions).is_some() {
        let body = ReplayBody::unread(body);
        return FactsFuture::Ready(Some(Request::from_parts(parts, body)));
    }
    FactsFuture::Collecting {
        collect: Box::pin(collect_limited(body, limit)),
        parts: Some(parts),
    }
}

impl<B: Body + Unpin> Future for FactsFuture<B> {
    type Output = Request<ReplayBody<B>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            FactsFuture::Ready(request) => Poll::Ready(
                request
                    .take()
                    .expect("a FactsFuture is polled to completion once"),
            ),
            FactsFuture::Collecting { collect, parts } => {
                let collected = ready!(collect.as_mut().poll(cx));
                let mut parts = parts
                    .take()
                    .expect("a FactsFuture is polled to completion once");
                let (facts, body) = match collected {
                    Collected::Complete { bytes, body } => {
                        (RequestFacts::from_parts(&parts, bytes), body)
                    }
                    Collected::Incomplete { body, reason } => {
                        (RequestFacts::opaque(&parts, reason), body)
                    }
                };
                facts.insert_into(&mut parts.extensions);
                Poll::Ready(Request::from_parts(parts, body))
            }
        }
    }
}
