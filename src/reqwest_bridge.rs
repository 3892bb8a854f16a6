//! reqwest's request and response, to and from the stack's `http` types,
//! for the async-openai and reqwest-middleware adapters. Bodies stream in
//! both directions: nothing is buffered here.

use http_body_util::BodyDataStream;
use tower::{BoxError, Service};

use crate::stack::{box_body, StackBody, StackService};

/// Sends one request through the stack (made ready first).
pub(crate) async fn send(
    mut stack: StackService,
    request: http::Request<StackBody>,
) -> Result<http::Response<StackBody>, BoxError> {
    std::future::poll_fn(|cx| stack.poll_ready(cx)).await?;
    stack.call(request).await
}

/// A reqwest request as the stack takes it (method, URL, headers,
/// extensions and body, as they are).
pub(crate) fn to_http(request: reqwest::Request) -> Result<http::Request<StackBody>, BoxError> {
    let request: http::Request<reqwest::Body> = request.try_into()?;
    Ok(request.map(box_body))
}

/// The stack's answer as a reqwest response, its body streamed as it comes.
pub(crate) fn to_reqwest(response: http::Response<StackBody>) -> reqwest::Response {
    reqwest::Response::from(
        response.map(|body| reqwest::Body::wrap_stream(BodyDataStream::new(body))),
    )
}
