//! Forwarding: the client's request, re-addressed to its upstream, through
//! the stack; the answer streamed back as it arrives.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either};
use hyper::body::Incoming;
use llm_layers::core::{find_upstream_error, UpstreamError};
use llm_layers::stack::{full_body, StackBody, StackService};
use tokio::sync::OwnedSemaphorePermit;
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
    let declared = declared_length(&parts.headers);
    if declared.is_some_and(|length| length > app.max_request_bytes) {
        let response = failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "length limit exceeded",
        );
        log(&method, path, response.status(), started);
        return Ok(response);
    }
    let (upstream, uri) = app.routes.target(&parts.uri);
    app.routes
        .outgoing_headers(upstream, &uri, &mut parts.headers);
    parts.uri = uri;
    // The connector negotiates the version with the upstream.
    parts.version = http::Version::HTTP_11;
    // Read whole before anything is sent: a body found too large half-way
    // must not reach the upstream cut short. (The layers buffer it anyway.)
    // Its bytes count against the budget of all bodies being read, until
    // the answer's head is back.
    let (body, _budget) = match read_body(&app, declared, body).await {
        Ok(read) => read,
        Err(refusal) => {
            let response = refusal.answer();
            log(&method, path, response.status(), started);
            return Ok(response);
        }
    };
    let body = full_body(body);
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

/// Why a request body was not read.
enum Refusal {
    TooLarge,
    OverBudget,
    TooSlow,
    Unreadable(String),
}

impl Refusal {
    fn answer(self) -> Response<ProxyBody> {
        match self {
            Refusal::TooLarge => failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "length limit exceeded",
            ),
            Refusal::OverBudget => {
                let mut response = failure(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "too many request bodies are being read at once; retry shortly",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
                response
            }
            Refusal::TooSlow => failure(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            ),
            Refusal::Unreadable(error) => {
                failure(StatusCode::BAD_REQUEST, "request_body_unreadable", &error)
            }
        }
    }
}

/// Reads the whole body (of `declared` length, if the head said) within
/// the size limit, the body timeout and the budget shared by every body
/// being read; returns it with its share of the budget.
async fn read_body(
    app: &AppState,
    declared: Option<usize>,
    body: Incoming,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Refusal> {
    let reserve = |bytes: usize| {
        let bytes = u32::try_from(bytes).map_err(|_| Refusal::OverBudget)?;
        app.body_budget
            .clone()
            .try_acquire_many_owned(bytes)
            .map_err(|_| Refusal::OverBudget)
    };
    // A declared length is reserved whole, up front.
    let mut held = match declared {
        Some(length) if length > 0 => Some(reserve(length)?),
        _ => None,
    };
    let reserved_up_front = held.is_some();
    let read = async {
        let mut body = std::pin::pin!(body);
        // A declared length (already checked against the limit) is
        // allocated once.
        let mut collected = BytesMut::with_capacity(declared.unwrap_or(0));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| Refusal::Unreadable(error.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if collected.len() + data.len() > app.max_request_bytes {
                return Err(Refusal::TooLarge);
            }
            if !reserved_up_front && !data.is_empty() {
                let more = reserve(data.len())?;
                match &mut held {
                    Some(permit) => permit.merge(more),
                    None => held = Some(more),
                }
            }
            collected.extend_from_slice(&data);
        }
        Ok(collected.freeze())
    };
    match tokio::time::timeout(app.client_body_timeout, read).await {
        Ok(Ok(bytes)) => Ok((bytes, held)),
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err(Refusal::TooSlow),
    }
}

/// The request's `Content-Length` (core's reading of it), in memory's unit;
/// a length too large for it counts as `usize::MAX`.
fn declared_length(headers: &http::HeaderMap) -> Option<usize> {
    llm_layers::core::completeness::declared_length(headers)
        .map(|length| usize::try_from(length).unwrap_or(usize::MAX))
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
