//! A layer whose call is an async function: its `Service` impl (the ready
//! inner service goes into the call, a clone stays) and its response
//! future, one boxed future behind a newtype of the layer's own.

/// Declares `ResponseFuture<B, E>`, answering `Result<Response<$body<B>>, E>`.
macro_rules! boxed_response_future {
    ($body:ident, $service:literal) => {
        #[doc = concat!("The response future of [`", $service, "`].")]
        pub struct ResponseFuture<B: http_body::Body, E> {
            inner: std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<http::Response<$body<B>>, E>> + Send>,
            >,
        }

        impl<B: http_body::Body, E> ResponseFuture<B, E> {
            pub(crate) fn new(
                future: impl std::future::Future<Output = Result<http::Response<$body<B>>, E>>
                    + Send
                    + 'static,
            ) -> Self {
                ResponseFuture {
                    inner: Box::pin(future),
                }
            }
        }

        impl<B: http_body::Body, E> std::future::Future for ResponseFuture<B, E> {
            type Output = Result<http::Response<$body<B>>, E>;

            fn poll(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Self::Output> {
                self.inner.as_mut().poll(cx)
            }
        }

        impl<B: http_body::Body, E> std::fmt::Debug for ResponseFuture<B, E> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("ResponseFuture").finish_non_exhaustive()
            }
        }
    };
}

/// Declares `impl Service<Request<B>> for $service<S>`, whose call is
/// `$run(inner, request, self.$state.clone())`, answering
/// `Response<$body<ResBody>>`; `$($bound)*` adds the bounds `$run` needs.
macro_rules! async_service {
    ($service:ident, $body:ident, $run:ident, $state:ident, { $($bound:tt)* }) => {
        impl<S, B, ResBody> tower::Service<http::Request<B>> for $service<S>
        where
            S: tower::Service<
                    http::Request<llm_layers_core::body::ReplayBody<B>>,
                    Response = http::Response<ResBody>,
                > + Clone
                + Send
                + 'static,
            S::Future: Send,
            S::Error: Send + 'static,
            B: http_body::Body + Send + Unpin + 'static,
            B::Data: bytes::Buf + Send,
            B::Error: Send,
            ResBody: http_body::Body + Send + 'static,
            $($bound)*
        {
            type Response = http::Response<$body<ResBody>>;
            type Error = S::Error;
            type Future = ResponseFuture<ResBody, S::Error>;

            fn poll_ready(
                &mut self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), S::Error>> {
                self.inner.poll_ready(cx)
            }

            fn call(&mut self, request: http::Request<B>) -> Self::Future {
                // The ready service goes into the future; a clone stays for the next call.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::new($run(inner, request, self.$state.clone()))
            }
        }
    };
}

pub(crate) use {async_service, boxed_response_future};
