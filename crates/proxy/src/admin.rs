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

/// `GET /metrics`: Prometheus text. The per-prefix series (labelled by a
/// fingerprint of prompt content) only with the admin token: anyone else
/// could confirm a guess at another tenant's system prompt by sending it
/// and watching its row move.
pub async fn metrics(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let text = app.prometheus.render();
    let text = match is_admin(&app, &headers) {
        true => text,
        false => without_per_prefix_series(&text),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The metrics whose `prefix` label names prompt content.
const PER_PREFIX_METRICS: [&str; 5] = [
    llm_layers::prefix::stats::names::REQUESTS,
    llm_layers::prefix::stats::names::INPUT_TOKENS,
    llm_layers::prefix::stats::names::CACHED_TOKENS,
    llm_layers::prefix::stats::names::CACHE_WRITE_TOKENS,
    llm_layers::prefix::stats::names::ESTIMATED_TOKENS,
];

/// Prometheus text without the per-prefix metrics (samples, `# HELP` and
/// `# TYPE` lines).
fn without_per_prefix_series(text: &str) -> String {
    text.lines()
        .filter(|line| {
            let name = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
                .unwrap_or(line);
            let name = name.split(['{', ' ']).next().unwrap_or_default();
            !PER_PREFIX_METRICS.contains(&name)
        })
        .flat_map(|line| [line, "\n"])
        .collect()
}

/// `GET /stats`: calls, cache, pool and circuit-breaker figures as JSON; the per-prefix
/// rows (`prefix`) only with the admin token (see [`metrics`]).
pub async fn stats(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let stack = &app.stack;
    let admin = is_admin(&app, &headers);
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
    let mut body = json!({
        "calls": stack.metrics().map(|layer| layer.stats().snapshot()),
        "cache": stack.cache().map(|layer| layer.stats()),
        "batch": stack.batch().map(|layer| layer.stats()),
        "batches": app.batches.as_ref().map(|filler| filler.jobs()),
        "pool": app.connector.stats(),
        "breakers": stack.breaker().map(|layer| layer.snapshot()),
    });
    if admin {
        body["prefix"] = Value::Array(prefix);
        // Where recent prompts departed from the one before (kinds and
        // offsets only), with the per-prefix rows behind the token.
        body["prefix_misses"] = json!(stack.prefix().map(|layer| layer.stats().misses()));
        // Prefixes whose provider-cache share is low (their fingerprints too).
        body["prefix_alerts"] = json!(stack.prefix().map(|layer| layer.stats().alerts()));
    }
    json_response(StatusCode::OK, body)
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

/// Whether the request carries `Authorization: Bearer <admin token>`.
/// The same over HTTP/1.1 and HTTP/2: the value is trimmed (HTTP/1.1's
/// parser trims it, HTTP/2 keeps it as sent), the scheme's case is
/// ignored, and an empty token (refused at start anyway) matches nothing.
fn is_admin(app: &AppState, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .and_then(|value| value.split_once(' '))
        .and_then(|(scheme, credential)| {
            let credential = credential.trim();
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some(credential.as_bytes().to_vec());
            }
            // Basic (any user, the token as password): what a browser sends
            // for the dashboard after asking.
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credential)
                .ok()?;
            let colon = decoded.iter().position(|&b| b == b':')?;
            Some(decoded[colon + 1..].to_vec())
        });
    match (app.admin_token.as_deref(), given) {
        (Some(token), Some(given)) if !token.is_empty() && !given.is_empty() => {
            same_secret(token.as_bytes(), &given)
        }
        _ => false,
    }
}

/// The live dashboard's page: one HTML file, no external assets.
const DASHBOARD: &str = include_str!("../assets/dashboard.html");

/// `GET /dashboard`: the live dashboard (it reads `/stats` every 3 s).
/// Behind the admin token when one is set: a browser is asked for it
/// (Basic, any user name, the token as password).
pub async fn dashboard(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if app.admin_token.is_some() && !is_admin(&app, &headers) {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            "the dashboard needs the admin token\n",
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"llm-layers\", charset=\"UTF-8\""),
        );
        return response;
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
            ),
        ],
        DASHBOARD,
    )
        .into_response()
}

/// 401 unless the request carries `Authorization: Bearer <admin token>`.
pub(crate) fn refuse(app: &AppState, headers: &HeaderMap) -> Option<Response> {
    if is_admin(app, headers) {
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
    use super::{same_secret, without_per_prefix_series};

    #[test]
    fn per_prefix_series_are_left_out() {
        let text = "# HELP llm_prefix_requests_total Requests.\n# TYPE llm_prefix_requests_total counter\nllm_prefix_requests_total{model=\"m\",prefix=\"ab\"} 1\nllm_prefix_estimated_tokens{model=\"m\",prefix=\"ab\"} 9\n# TYPE llm_requests_total counter\nllm_requests_total{model=\"m\"} 1\nllm_prefix_below_minimum_total{model=\"m\"} 2\n";
        assert_eq!(
            without_per_prefix_series(text),
            "# TYPE llm_requests_total counter\nllm_requests_total{model=\"m\"} 1\nllm_prefix_below_minimum_total{model=\"m\"} 2\n"
        );
    }

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret(b"token", b"token"));
        assert!(!same_secret(b"token", b"tokex"));
        assert!(!same_secret(b"token", b"token2"));
        assert!(!same_secret(b"", b"x"));
    }
}
