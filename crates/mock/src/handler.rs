//! Turns one HTTP request into the provider's answer, with latency and
//! faults applied.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::batch_api::{BatchApi, Served};
use crate::body::MockBody;
use crate::config::MockConfig;
use crate::fault::{
    Fault, FAULT_HEADER, FAULT_KEY_HEADER, FAULT_SHARE_HEADER, FAULT_TIMES_HEADER, LATENCY_HEADER,
    REMAINING_REQUESTS_HEADER, RESET_MS_HEADER, RETRY_AFTER_HEADER,
};
use crate::prompt_cache::PromptCache;
use crate::reply::{ApiError, Call, ErrorShape, Reply};
use crate::stats::{Counters, RecordedRequest};
use crate::{anthropic, openai};

/// Everything the handlers share.
pub(crate) struct State {
    pub config: MockConfig,
    pub counters: Counters,
    pub prompt_cache: PromptCache,
    pub fault: std::sync::Mutex<Option<Fault>>,
    /// When the server-wide fault ends by itself (a window of downtime).
    pub fault_until: std::sync::Mutex<Option<std::time::Instant>>,
    /// How often each scheduled fault (`x-mock-fault-times`) has struck.
    scheduled: std::sync::Mutex<std::collections::HashMap<[u8; 32], u64>>,
    request_ids: AtomicU64,
    batch_api: BatchApi,
}

impl State {
    /// Counts one more request of the schedule `parts` name; how many
    /// there have been, this one included.
    fn count(&self, parts: &[&[u8]]) -> u64 {
        let mut hasher = blake3::Hasher::new();
        for part in parts {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let mut scheduled = self.scheduled.lock().unwrap_or_else(|e| e.into_inner());
        let seen = scheduled.entry(*hasher.finalize().as_bytes()).or_insert(0);
        *seen += 1;
        *seen
    }

    /// Whether a fault scheduled `times` times for `key` strikes now
    /// (counting this request).
    fn strikes(&self, fault: Fault, key: &[u8], times: u64) -> bool {
        self.count(&[format!("{fault:?}").as_bytes(), key]) <= times
    }

    /// The server-wide fault, unless its window of downtime is over.
    fn server_fault(&self) -> Option<Fault> {
        let until = *self.fault_until.lock().unwrap_or_else(|e| e.into_inner());
        if until.is_some_and(|until| std::time::Instant::now() >= until) {
            return None;
        }
        *self.fault.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the next request of a fault's share schedule is in the
    /// share: exactly `share` of them are, spread evenly (the n-th strikes
    /// when ⌊n·share⌋ grows).
    fn in_share(&self, fault: Fault, share: f64) -> bool {
        let schedule = format!("{fault:?} share {share}");
        let n = self.count(&[schedule.as_bytes()]) as f64;
        (n * share).floor() > ((n - 1.0) * share).floor()
    }

    /// Forgets counters, the prompt cache and scheduled faults.
    pub fn reset(&self) {
        self.counters.reset();
        self.prompt_cache.clear();
        self.scheduled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn new(config: MockConfig) -> State {
        State {
            fault: std::sync::Mutex::new(config.fault),
            scheduled: std::sync::Mutex::default(),
            fault_until: std::sync::Mutex::default(),
            config,
            counters: Counters::default(),
            prompt_cache: PromptCache::default(),
            request_ids: AtomicU64::new(0),
            batch_api: BatchApi::default(),
        }
    }

    pub fn stats(&self) -> crate::MockStats {
        self.counters.snapshot(self.prompt_cache.len())
    }
}

/// The answer of the provider API at `api_path`; `None` for an unknown path.
fn dispatch(call: &Call, api_path: &str, query: Option<&str>) -> Option<Result<Reply, ApiError>> {
    Some(match (crate::gemini::route(api_path, query), api_path) {
        (Some((model, delivery)), _) => crate::gemini::generate(call, model, delivery),
        (None, "/v1/chat/completions") => openai::chat(call),
        (None, "/v1/completions") => openai::completions(call),
        (None, "/v1/responses") => openai::responses(call),
        (None, "/v1/embeddings") => openai::embeddings(call),
        (None, "/v1/messages") => anthropic::messages(call),
        _ => return None,
    })
}

/// The API path of a request sent under a provider's prefix
/// (`/openai/…`, `/anthropic/…`, `/gemini/…`), as one server serving
/// several providers, or a gateway, would have it; other paths as they are.
fn under_provider_prefix(path: &str) -> &str {
    ["/openai", "/anthropic", "/gemini"]
        .iter()
        .find_map(|prefix| {
            path.strip_prefix(prefix)
                .filter(|rest| rest.starts_with('/'))
        })
        .unwrap_or(path)
}

/// Azure OpenAI's `/openai/deployments/{deployment}/{api}`: the
/// deployment, and the OpenAI path it stands for (`/v1/{api}`).
fn azure_deployment(path: &str) -> Option<(&str, String)> {
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (deployment, api) = rest.split_once('/')?;
    (!deployment.is_empty()).then(|| (deployment, format!("/v1/{api}")))
}

/// The body with `model` set to `deployment` when it names none (Azure
/// bodies carry no model; the deployment is the model).
fn with_model(body: Bytes, deployment: &str) -> Bytes {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut object)) if !object.contains_key("model") => {
            object.insert("model".into(), deployment.into());
            serde_json::to_vec(&object).map_or(body, Bytes::from)
        }
        _ => body,
    }
}

/// The connection is dropped without an answer (the `reset` fault).
#[derive(Debug, thiserror::Error)]
#[error("mock upstream reset the connection")]
pub(crate) struct ConnectionReset;

type Answer = Result<Response<MockBody>, ConnectionReset>;

pub(crate) async fn handle(state: Arc<State>, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    if let Some(command) = path.strip_prefix("/__mock/") {
        return Ok(admin(&state, command, request.method()));
    }
    state.counters.count_request(&path);
    let fault = match requested_fault(&request) {
        Ok(fault) => fault.or_else(|| state.server_fault()),
        Err(message) => {
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": {"message": message, "type": "mock_error"}}),
            ))
        }
    };
    let latency = header_number(&request, LATENCY_HEADER)
        .map(Duration::from_millis)
        .unwrap_or(state.config.latency);
    let retry_after = header_number(&request, RETRY_AFTER_HEADER).unwrap_or(1);
    let quota = header_number(&request, REMAINING_REQUESTS_HEADER).map(|remaining| Quota {
        remaining,
        reset: Duration::from_millis(header_number(&request, RESET_MS_HEADER).unwrap_or(1000)),
    });
    let fault_times = header_number(&request, FAULT_TIMES_HEADER);
    let fault_share = request
        .headers()
        .get(FAULT_SHARE_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        .filter(|share| (0.0..=1.0).contains(share));
    let fault_key = request
        .headers()
        .get(FAULT_KEY_HEADER)
        .map(|value| value.as_bytes().to_vec());
    let query = request.uri().query().map(str::to_owned);
    let query_key = query
        .as_deref()
        .and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("key=")));
    let partition = llm_layers_core::facts::credential_fingerprint(request.headers(), query_key)
        .map_or_else(
            || "anonymous".to_owned(),
            |fingerprint| fingerprint.to_hex(),
        );
    let method = request.method().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or(path.clone(), |p| p.to_string());
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(request.into_body(), state.config.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    kind: "request_too_large",
                    message: "Request exceeds the maximum allowed number of bytes.".into(),
                    shape: shape_for(&path),
                }
                .body(),
            ))
        }
    };
    state.counters.record(
        RecordedRequest {
            method: method.clone(),
            path: path_and_query,
            content_type: content_type.clone(),
            body: body.clone(),
        },
        state.config.recent_requests,
    );
    let fault = match (fault, fault_times) {
        (Some(fault), Some(times)) => {
            let key = fault_key.as_deref().unwrap_or(&body);
            state.strikes(fault, key, times).then_some(fault)
        }
        (Some(fault), None) if fault_share.is_some() => state
            .in_share(fault, fault_share.unwrap_or(1.0))
            .then_some(fault),
        (fault, _) => fault,
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = fault {
        state.counters.count_fault();
        if fault == Fault::Reset {
            return Err(ConnectionReset);
        }
        if let Some(status) = fault.status() {
            return Ok(fault_response(&path, fault, status, retry_after));
        }
    }
    let (api_path, body) = match azure_deployment(&path) {
        Some((deployment, api_path)) => (api_path, with_model(body, deployment)),
        None => (under_provider_prefix(&path).to_owned(), body),
    };
    let delay = state.config.batch_delay;
    let answer_line = |url: &str, body: &[u8]| {
        let uncached = std::sync::atomic::AtomicU64::new(0);
        let call = Call {
            body,
            partition: &partition,
            cache: &state.prompt_cache,
            openai_ttl: state.config.prompt_cache_ttl,
            uncached_prompt_tokens: &uncached,
        };
        match dispatch(&call, url, None) {
            Some(Ok(Reply::Json(value))) => (StatusCode::OK, value),
            Some(Ok(Reply::Stream(_))) => {
                let error =
                    ApiError::invalid(ErrorShape::OpenAi, "streaming is not supported in a batch");
                (error.status, error.body())
            }
            Some(Err(error)) => (error.status, error.body()),
            None => (
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": {"message": "unknown url"}}),
            ),
        }
    };
    let served = state
        .batch_api
        .route(
            &method,
            &api_path,
            content_type.as_deref(),
            body.clone(),
            delay,
            &answer_line,
        )
        .await;
    match served {
        Some(Served::Json(status, value)) => return Ok(json_response(status, &value)),
        Some(Served::File(bytes)) => {
            return Ok(with_content_type(
                Response::new(MockBody::full(bytes)),
                "application/jsonl",
            ))
        }
        None => {}
    }
    let uncached_prompt_tokens = std::sync::atomic::AtomicU64::new(0);
    let call = Call {
        body: &body,
        partition: &partition,
        cache: &state.prompt_cache,
        openai_ttl: state.config.prompt_cache_ttl,
        uncached_prompt_tokens: &uncached_prompt_tokens,
    };
    let Some(reply) = dispatch(&call, &api_path, query.as_deref()) else {
        return Ok(json_response(
            StatusCode::NOT_FOUND,
            &ApiError {
                status: StatusCode::NOT_FOUND,
                kind: "not_found_error",
                message: format!("Unknown path {path}"),
                shape: shape_for(&path),
            }
            .body(),
        ));
    };
    let prefill = state
        .config
        .prefill_per_1k_tokens
        .mul_f64(uncached_prompt_tokens.load(Ordering::Relaxed) as f64 / 1000.0);
    if !prefill.is_zero() {
        tokio::time::sleep(prefill).await;
    }
    let request_id = state.request_ids.fetch_add(1, Ordering::Relaxed);
    let mut response = match reply {
        Err(error) => json_response(error.status, &error.body()),
        Ok(Reply::Json(value)) => {
            let bytes = Bytes::from(value.to_string());
            let body = match fault {
                Some(Fault::Cut | Fault::Stall) => {
                    let half = bytes.len() / 2;
                    MockBody::paced(
                        vec![bytes.slice(..half), bytes.slice(half..)],
                        Duration::ZERO,
                        fault,
                    )
                }
                _ => MockBody::full(bytes),
            };
            with_content_type(Response::new(body), "application/json")
        }
        Ok(Reply::Stream(events)) => {
            let body = MockBody::paced(events, state.config.chunk_delay, fault);
            with_content_type(Response::new(body), "text/event-stream; charset=utf-8")
        }
    };
    provider_headers(&mut response, &path, request_id, quota);
    Ok(response)
}

fn shape_for(path: &str) -> ErrorShape {
    if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        ErrorShape::Gemini
    } else if path.ends_with("/messages") {
        ErrorShape::Anthropic
    } else {
        ErrorShape::OpenAi
    }
}

fn requested_fault<B>(request: &Request<B>) -> Result<Option<Fault>, String> {
    match request.headers().get(FAULT_HEADER) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map_err(|_| "x-mock-fault is not text".to_owned())?
            .parse()
            .map(Some)
            .map_err(|error: crate::fault::UnknownFault| error.to_string()),
    }
}

fn header_number<B>(request: &Request<B>, name: &str) -> Option<u64> {
    request
        .headers()
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn fault_response(path: &str, fault: Fault, status: u16, retry_after: u64) -> Response<MockBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (kind, message) = match fault {
        Fault::RateLimit => (
            "rate_limit_error",
            "Rate limit reached. Please try again later.",
        ),
        Fault::InsufficientQuota => (
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        Fault::Overloaded => ("overloaded_error", "Overloaded"),
        Fault::Unavailable => (
            "service_unavailable",
            "The server is temporarily unavailable.",
        ),
        _ => (
            "server_error",
            "The server had an error while processing your request.",
        ),
    };
    let error = ApiError {
        status,
        kind,
        message: message.to_owned(),
        shape: shape_for(path),
    };
    let mut response = json_response(status, &error.body());
    if fault == Fault::RateLimit {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    response
}

/// The request quota an answer reports (`x-mock-remaining-requests`).
struct Quota {
    remaining: u64,
    reset: Duration,
}

fn provider_headers(
    response: &mut Response<MockBody>,
    path: &str,
    request_id: u64,
    quota: Option<Quota>,
) {
    let headers = response.headers_mut();
    let id = HeaderValue::from_str(&format!("req_mock_{request_id:016x}"))
        .unwrap_or(HeaderValue::from_static("req_mock"));
    let remaining = quota.as_ref().map_or(9999, |quota| quota.remaining);
    let reset = quota
        .as_ref()
        .map_or(Duration::from_secs(1), |quota| quota.reset);
    if shape_for(path) == ErrorShape::Anthropic {
        headers.insert("request-id", id);
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from(remaining),
        );
        let at = humantime::format_rfc3339_millis(std::time::SystemTime::now() + reset);
        if let Ok(at) = HeaderValue::from_str(&at.to_string()) {
            headers.insert("anthropic-ratelimit-requests-reset", at);
        }
    } else {
        headers.insert("x-request-id", id);
        headers.insert("openai-processing-ms", HeaderValue::from_static("1"));
        headers.insert("openai-version", HeaderValue::from_static("2020-10-01"));
        headers.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from(remaining),
        );
        if let Ok(reset) = HeaderValue::from_str(&format!("{}ms", reset.as_millis())) {
            headers.insert("x-ratelimit-reset-requests", reset);
        }
    }
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("__mock_session=1; Path=/; HttpOnly"),
    );
}

fn with_content_type(
    mut response: Response<MockBody>,
    content_type: &'static str,
) -> Response<MockBody> {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<MockBody> {
    let mut response = with_content_type(
        Response::new(MockBody::full(body.to_string())),
        "application/json",
    );
    *response.status_mut() = status;
    response
}

fn admin(state: &State, command: &str, method: &http::Method) -> Response<MockBody> {
    match (method.as_str(), command) {
        ("GET", "stats") => json_response(
            StatusCode::OK,
            &serde_json::to_value(state.stats()).unwrap_or_default(),
        ),
        ("GET", "requests") => json_response(
            StatusCode::OK,
            &serde_json::to_value(state.counters.recent()).unwrap_or_default(),
        ),
        ("POST", "reset") => {
            state.reset();
            json_response(StatusCode::OK, &serde_json::json!({"reset": true}))
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": {"message": "unknown mock endpoint", "type": "mock_error"}}),
        ),
    }
}
