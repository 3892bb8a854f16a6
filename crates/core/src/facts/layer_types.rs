//! The public response types of a layer built on [`super::AroundFuture`]
//! and [`crate::body::TapBody`], in tower-http's shape: a
//! `ResponseFuture` and a `ResponseBody` newtype with private insides, so
//! that the call and observer types stay the layer's own.

/// Declares `ResponseFuture<S, B>` and `ResponseBody<B>` for a layer whose
/// call type is `$call` (an [`super::AroundCall`] answering
/// `Result<Response<TapBody<ResBody, $observer>>, $error>`, where `$error`
/// may name the inner service's `S::Error`) and whose body observer is
/// `$observer`.
#[macro_export]
macro_rules! around_layer_types {
    (call: $call:ty, observer: $observer:ty, error: $error:ty, service: $service:literal) => {
        $crate::__private::pin_project! {
            #[doc = concat!("The response future of [`", $service, "`].")]
            pub struct ResponseFuture<S, B>
            where
                S: $crate::__private::Service<$crate::__private::http::Request<$crate::body::ReplayBody<B>>>,
                B: $crate::__private::http_body::Body,
            {
                #[pin]
                inner: $crate::facts::AroundFuture<S, B, $call>,
            }
        }

        impl<S, B> ResponseFuture<S, B>
        where
            S: $crate::__private::Service<$crate::__private::http::Request<$crate::body::ReplayBody<B>>>,
            B: $crate::__private::http_body::Body + Send + Unpin + 'static,
            B::Error: Send,
            B::Data: Send,
        {
            /// The call through `inner`, a ready service: at once when
            /// the facts are known, else once the body is buffered (see
            /// [`AroundFuture::call`]).
            pub(crate) fn call<ResBody>(
                inner: &mut S,
                request: $crate::__private::http::Request<B>,
                limit: usize,
                call: $call,
            ) -> Self
            where
                S: Clone,
                $call: $crate::facts::AroundCall<B, ResBody, S::Error>,
            {
                ResponseFuture {
                    inner: $crate::facts::AroundFuture::call(inner, request, limit, call),
                }
            }
        }

        impl<S, B, ResBody> std::future::Future for ResponseFuture<S, B>
        where
            S: $crate::__private::Service<
                $crate::__private::http::Request<$crate::body::ReplayBody<B>>,
                Response = $crate::__private::http::Response<ResBody>,
            >,
            B: $crate::__private::http_body::Body + Unpin,
            ResBody: $crate::__private::http_body::Body<Data = $crate::__private::Bytes>,
            $call: $crate::facts::AroundCall<
                B,
                ResBody,
                S::Error,
                Output = Result<
                    $crate::__private::http::Response<$crate::body::TapBody<ResBody, $observer>>,
                    $error,
                >,
            >,
        {
            type Output = Result<$crate::__private::http::Response<ResponseBody<ResBody>>, $error>;

            fn poll(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Self::Output> {
                self.project().inner.poll(cx).map(|result| {
                    result.map(|response| response.map(|inner| ResponseBody { inner }))
                })
            }
        }

        $crate::__private::pin_project! {
            #[doc = concat!("The body of an answer through [`", $service, "`]: the inner body, watched as it streams.")]
            pub struct ResponseBody<B>
            where
                B: $crate::__private::http_body::Body,
            {
                #[pin]
                inner: $crate::body::TapBody<B, $observer>,
            }
        }

        impl<B: $crate::__private::http_body::Body> std::fmt::Debug for ResponseBody<B> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("ResponseBody").finish_non_exhaustive()
            }
        }

        impl<B> $crate::__private::http_body::Body for ResponseBody<B>
        where
            B: $crate::__private::http_body::Body<Data = $crate::__private::Bytes>,
            $observer: $crate::body::BodyObserver<B::Error>,
        {
            type Data = $crate::__private::Bytes;
            type Error = B::Error;

            fn poll_frame(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Result<$crate::__private::http_body::Frame<$crate::__private::Bytes>, B::Error>>> {
                self.project().inner.poll_frame(cx)
            }

            fn is_end_stream(&self) -> bool {
                self.inner.is_end_stream()
            }

            fn size_hint(&self) -> $crate::__private::http_body::SizeHint {
                self.inner.size_hint()
            }
        }
    };
}
