//! Forwarding: the client's request, re-addressed to its upstream, through
//! the stack; the answer streamed back as it arrives.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Limited};
use hyper::body::Incoming;
use llm_layers::core::{find_upstream_error, UpstreamError};
use llm_layers::stack::{full_body, StackBody, StackService};
use tower::ServiceExt;

use crate::serve::ProxyBody;
use crate::server::AppState;
use crate::upstream::strip_hop_by_hop;

/// Everything that is not the proxy's own route.
pub async fn forward(
    app: Arc<AppState>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    // The caller's URI, kept for the log line (a clone shares its bytes).
    let caller_uri = parts.uri.clone();
    let path = caller_uri.path();
    if declared_length(&parts.headers).is_some_and(|length| length > app.max_request_bytes) {
        let response = failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "length limit exceeded",
        );
        log(&method, path, response.status(), started);
        return Ok(response);
    }
    let (upstream, uri) = app.routes.target(&parts.uri);
    app.routes.outgoing_headers(upstream, &mut parts.headers);
    parts.uri = uri;
    // The connector negotiates the version with the upstream.
    parts.version = http::Version::HTTP_11;
    // Read whole before anything is sent: a body found too large half-way
    // must not reach the upstream cut short. (The layers buffer it anyway.)
    let body = match Limited::new(body, app.max_request_bytes).collect().await {
        Ok(collected) => full_body(collected.to_bytes()),
        Err(error) => {
            let response = match error.downcast_ref::<http_body_util::LengthLimitError>() {
                Some(_) => failure(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    "length limit exceeded",
                ),
                None => failure(
                    StatusCode::BAD_REQUEST,
                    "request_body_unreadable",
                    &error.to_string(),
                ),
            };
            log(&method, path, response.status(), started);
            return Ok(response);
        }
    };
    let response = match send(app.service.clone(), Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Either::Left(body))
        }
        Err(error) => error_answer(&*error),
    };
    log(&method, path, response.status(), started);
    Ok(response)
}

type Answer = Result<Response<StackBody>, tower::BoxError>;

/// The stack's call as a plain boxed future: awaiting `Oneshot` directly in
/// a boxed `Send` future trips a known limit of rustc's `Send` inference on
/// boxed error types (rust-lang/rust#64552).
fn send(
    service: StackService,
    request: Request<StackBody>,
) -> Pin<Box<dyn Future<Output = Answer> + Send>> {
    Box::pin(service.oneshot(request))
}

/// The request's `Content-Length`, when it has a valid one.
fn declared_length(headers: &http::HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// One line per forwarded request, at debug level (no headers, no body).
fn log(method: &http::Method, path: &str, status: StatusCode, started: Instant) {
    tracing::debug!(
        %method,
        path,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "forwarded"
    );
}

/// The proxy's own error answer for a failed call.
fn error_answer(error: &(dyn std::error::Error + 'static)) -> Response<ProxyBody> {
    let too_large =
        llm_layers::core::error::find_in_chain::<http_body_util::LengthLimitError>(error).is_some();
    let (status, kind) = match find_upstream_error(error) {
        _ if too_large => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
        Some(UpstreamError::Timeout(_)) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        Some(_) => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        None => (StatusCode::BAD_GATEWAY, "proxy_error"),
    };
    tracing::warn!(%status, error = %error, "request failed in the proxy");
    failure(status, kind, &error.to_string())
}

/// An error in OpenAI's shape.
fn failure(status: StatusCode, kind: &str, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({"error": {
        "message": message,
        "type": kind,
        "code": status.as_u16(),
    }});
    crate::admin::json_response(status, body).map(Either::Right)
}
