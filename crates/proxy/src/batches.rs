//! `POST /admin/batches` and `GET /admin/batches/{id}`: the OpenAI Batch
//! API as a cache filler. The requests are sent as one batch job (half
//! price); each answer is stored under the key the same request would have
//! had through the proxy, so the later identical calls are hits.
//!
//! The provider credential travels in `x-upstream-authorization` (the
//! `Authorization` header carries the admin token), or is the server-held
//! OpenAI key; the answers are stored in that credential's partition.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, StatusCode};
use llm_layers::batch::filler::{BatchApiConfig, BatchFiller, BatchRequest};
use llm_layers::cache::CacheLayer;
use serde::Deserialize;
use serde_json::json;

use crate::admin::{json_response, refuse};
use crate::server::AppState;
use crate::upstream::Upstream;

/// The header carrying the provider credential of a batch job.
pub const UPSTREAM_AUTHORIZATION: HeaderName = HeaderName::from_static("x-upstream-authorization");

/// A filler over its own connector, storing into `cache`.
pub fn filler(
    cache: &CacheLayer,
    base_url: &str,
    poll_interval: std::time::Duration,
) -> Result<BatchFiller, String> {
    let client = llm_layers::connector::HyperConnector::builder()
        .build::<http_body_util::Full<Bytes>>()
        .map_err(|error| error.to_string())?;
    let config = BatchApiConfig::default()
        .base_url(base_url.to_owned())
        .poll_interval(poll_interval);
    Ok(BatchFiller::new(client, Arc::new(cache.clone()), config))
}

/// The body of `POST /admin/batches`.
#[derive(Deserialize)]
struct Submission {
    requests: Vec<BatchRequest>,
}

/// `POST /admin/batches` with `{"requests": [{"url", "body"}, …]}`: the
/// job's id and figures (202).
pub async fn submit(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refuse(&app, &headers) {
        return refusal;
    }
    let Some(filler) = &app.batches else {
        return json_response(StatusCode::NOT_FOUND, json!({"error": "the cache is off"}));
    };
    let submission: Submission = match serde_json::from_slice(&body) {
        Ok(submission) => submission,
        Err(error) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("expected {{\"requests\": [{{\"url\", \"body\"}}]}}: {error}")}),
            )
        }
    };
    let mut credential = HeaderMap::new();
    match headers.get(&UPSTREAM_AUTHORIZATION) {
        Some(value) => {
            let mut value = value.clone();
            value.set_sensitive(true);
            credential.insert(header::AUTHORIZATION, value);
        }
        None => {
            if let Some((name, value)) = app.routes.server_key(Upstream::OpenAi) {
                credential.insert(name, value);
            }
        }
    }
    match filler.submit(submission.requests, credential) {
        Ok(id) => json_response(StatusCode::ACCEPTED, json!(filler.job(&id))),
        Err(error) => json_response(StatusCode::BAD_REQUEST, json!({"error": error.to_string()})),
    }
}

/// `GET /admin/batches/{id}`: a job's figures.
pub async fn job(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refusal) = refuse(&app, &headers) {
        return refusal;
    }
    match app.batches.as_ref().and_then(|filler| filler.job(&id)) {
        Some(job) => json_response(StatusCode::OK, json!(job)),
        None => json_response(StatusCode::NOT_FOUND, json!({"error": "no such batch job"})),
    }
}
