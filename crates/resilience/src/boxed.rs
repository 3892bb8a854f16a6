//! The response future of a layer whose call is an async block: one boxed
//! future, behind a newtype of the layer's own.

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

pub(crate) use boxed_response_future;
