//! The proxy's own routes: health, Prometheus metrics, the stats snapshot,
//! and the cache admin routes behind a bearer token.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::server::AppState;

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.prometheus.render(),
    )
        .into_response()
}

/// `GET /stats`: calls, cache, pool and prompt-prefix figures as JSON.
pub async fn stats(State(app): State<Arc<AppState>>) -> Response {
    let stack = &app.stack;
    let prefix: Vec<Value> = stack
        .prefix()
        .map(|layer| layer.stats().snapshot())
        .unwrap_or_default()
        .into_iter()
        .map(|row| {
            json!({
                "prefix": row.fingerprint.map_or_else(|| "other".to_owned(), |f| f.to_string()),
                "model": row.model,
                "requests": row.requests,
                "input_tokens": row.input_tokens,
                "cached_tokens": row.cached_tokens,
                "cache_write_tokens": row.cache_write_tokens,
                "estimated_prefix_tokens": row.estimated_prefix_tokens,
                "hit_ratio": row.hit_ratio(),
                "below_minimum": row.below_minimum(),
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "calls": stack.metrics().map(|layer| layer.stats().snapshot()),
            "cache": stack.cache().map(|layer| layer.stats()),
            "pool": app.connector.stats(),
            "prefix": prefix,
        }),
    )
}

/// `POST /admin/cache/clear`: removes every entry; answers how many.
pub async fn clear_cache(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse(&app, &headers) {
        return refusal;
    }
    let Some(cache) = app.stack.cache() else {
        return json_response(StatusCode::NOT_FOUND, json!({"error": "the cache is off"}));
    };
    match cache.clear().await {
        Ok(removed) => json_response(StatusCode::OK, json!({"removed": removed})),
        Err(error) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": error.to_string()}),
        ),
    }
}

/// `GET /admin/cache/stats`.
pub async fn cache_stats(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse(&app, &headers) {
        return refusal;
    }
    match app.stack.cache() {
        Some(cache) => json_response(StatusCode::OK, json!(cache.stats())),
        None => json_response(StatusCode::NOT_FOUND, json!({"error": "the cache is off"})),
    }
}

/// 401 unless the request carries `Authorization: Bearer <admin token>`.
fn refuse(app: &AppState, headers: &HeaderMap) -> Option<Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let allowed = match (&app.admin_token, given) {
        (Some(token), Some(given)) => same_secret(token.as_bytes(), given.as_bytes()),
        _ => false,
    };
    if allowed {
        return None;
    }
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        json!({"error": "admin routes need Authorization: Bearer <admin token>"}),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    Some(response)
}

/// Compares secrets in time independent of where they differ.
fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret(b"token", b"token"));
        assert!(!same_secret(b"token", b"tokex"));
        assert!(!same_secret(b"token", b"token2"));
        assert!(!same_secret(b"", b"x"));
    }
}
