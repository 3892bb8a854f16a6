//! Forwarding: the client's request, re-addressed to its upstream, through
//! the stack; the answer streamed back as it arrives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use llm_layers::core::{find_upstream_error, UpstreamError};
use llm_layers::stack::{box_body, StackBody, StackService};
use tower::ServiceExt;

use crate::server::AppState;
use crate::upstream::strip_hop_by_hop;

/// The fallback route: everything that is not the proxy's own.
pub async fn forward(State(app): State<Arc<AppState>>, request: Request<Body>) -> Response {
    let (mut parts, body) = request.into_parts();
    let (upstream, uri) = app.routes.target(&parts.uri);
    app.routes.outgoing_headers(upstream, &mut parts.headers);
    parts.uri = uri;
    // The connector negotiates the version with the upstream.
    parts.version = http::Version::HTTP_11;
    let request: Request<StackBody> = Request::from_parts(parts, box_body(body));
    match send(app.service.clone(), request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Err(error) => failure(&*error),
    }
}

type Answer = Result<http::Response<StackBody>, tower::BoxError>;

/// The stack's call as a plain boxed future: awaiting `Oneshot` directly in
/// the handler trips a known limit of rustc's `Send` inference on boxed
/// error types (rust-lang/rust#64552).
fn send(
    service: StackService,
    request: Request<StackBody>,
) -> Pin<Box<dyn Future<Output = Answer> + Send>> {
    Box::pin(service.oneshot(request))
}

/// The proxy's own error answer, in OpenAI's error shape.
fn failure(error: &(dyn std::error::Error + 'static)) -> Response {
    let too_large =
        llm_layers::core::error::find_in_chain::<http_body_util::LengthLimitError>(error).is_some();
    let (status, kind) = match find_upstream_error(error) {
        _ if too_large => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
        Some(UpstreamError::Timeout(_)) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        Some(_) => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        None => (StatusCode::BAD_GATEWAY, "proxy_error"),
    };
    tracing::warn!(%status, error = %error, "request failed in the proxy");
    let body = serde_json::json!({"error": {
        "message": error.to_string(),
        "type": kind,
        "code": status.as_u16(),
    }});
    (status, axum::Json(body)).into_response()
}
