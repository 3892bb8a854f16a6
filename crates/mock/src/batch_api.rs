//! OpenAI's Files and Batch APIs, enough to run a batch job end to end:
//! `POST /v1/files` (multipart, `purpose=batch`), `POST /v1/batches`,
//! `GET /v1/batches/{id}`, `GET /v1/files/{id}/content`.
//!
//! A job is `in_progress` until [`crate::MockConfig::batch_delay`] has
//! passed since it was created, then `completed`: its requests are answered
//! then, by the same handlers as direct calls (so the answers are
//! byte-identical to direct ones), without counting as calls to their
//! endpoints.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reply::{ApiError, ErrorShape};

/// Endpoints a batch may target.
const ENDPOINTS: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
];

/// What a Files or Batch API request is answered with.
pub(crate) enum Served {
    /// A JSON body with this status.
    Json(StatusCode, Value),
    /// A file's bytes (`application/jsonl`).
    File(Bytes),
}

/// Answers one request line: its status and JSON body.
pub(crate) type Answer<'a> = &'a (dyn Fn(&str, &[u8]) -> (StatusCode, Value) + Sync);

/// The files and batch jobs of one mock server.
#[derive(Debug, Default)]
pub(crate) struct BatchApi {
    files: Mutex<HashMap<String, Bytes>>,
    jobs: Mutex<HashMap<String, Job>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Job {
    id: String,
    endpoint: String,
    input_file_id: String,
    created: Instant,
    created_at: u64,
    output_file_id: Option<String>,
    counts: (u64, u64, u64),
}

#[derive(Deserialize)]
struct CreateBatch {
    input_file_id: String,
    endpoint: String,
    completion_window: Option<String>,
}

#[derive(Deserialize)]
struct Line {
    custom_id: String,
    method: Option<String>,
    url: String,
    body: Value,
}

fn invalid(message: impl Into<String>) -> (StatusCode, Value) {
    let error = ApiError::invalid(ErrorShape::OpenAi, message);
    (error.status, error.body())
}

fn not_found(what: &str) -> (StatusCode, Value) {
    let error = ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        message: format!("No such {what}"),
        shape: ErrorShape::OpenAi,
    };
    (error.status, error.body())
}

impl BatchApi {
    fn id(&self, prefix: &str) -> String {
        format!(
            "{prefix}{:024x}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// The answer to a Files or Batch API request; `None` for other paths.
    pub async fn route(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
        delay: Duration,
        answer: Answer<'_>,
    ) -> Option<Served> {
        let (status, value) = match (method, path.trim_end_matches('/')) {
            ("POST", "/v1/files") => self.upload(content_type, body).await,
            ("POST", "/v1/batches") => self.create(&body),
            ("GET", rest) if rest.starts_with("/v1/batches/") => {
                self.status(&rest["/v1/batches/".len()..], delay, answer)
            }
            ("GET", rest) if rest.starts_with("/v1/files/") && rest.ends_with("/content") => {
                let id = &rest["/v1/files/".len()..rest.len() - "/content".len()];
                return Some(self.content(id));
            }
            _ => return None,
        };
        Some(Served::Json(status, value))
    }

    async fn upload(&self, content_type: Option<&str>, body: Bytes) -> (StatusCode, Value) {
        let Some(boundary) = content_type.and_then(|t| multer::parse_boundary(t).ok()) else {
            return invalid("expected multipart/form-data with a boundary");
        };
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut form = multer::Multipart::new(stream, boundary);
        let (mut purpose, mut file, mut filename) = (None, None, None);
        loop {
            let field = match form.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(error) => return invalid(format!("bad multipart body: {error}")),
            };
            let name = field.name().map(str::to_owned);
            let field_filename = field.file_name().map(str::to_owned);
            let Ok(bytes) = field.bytes().await else {
                return invalid("bad multipart field");
            };
            match name.as_deref() {
                Some("purpose") => purpose = Some(String::from_utf8_lossy(&bytes).into_owned()),
                Some("file") => {
                    file = Some(bytes);
                    filename = field_filename;
                }
                _ => {}
            }
        }
        let (Some(purpose), Some(file)) = (purpose, file) else {
            return invalid("'purpose' and 'file' are required");
        };
        let id = self.id("file-");
        let size = file.len();
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), file);
        (
            StatusCode::OK,
            json!({"id": id, "object": "file", "bytes": size, "created_at": 1_700_000_000u64,
                   "filename": filename.unwrap_or_else(|| "upload.jsonl".into()), "purpose": purpose}),
        )
    }

    fn create(&self, body: &[u8]) -> (StatusCode, Value) {
        let Ok(request) = serde_json::from_slice::<CreateBatch>(body) else {
            return invalid("'input_file_id' and 'endpoint' are required");
        };
        if !ENDPOINTS.contains(&request.endpoint.as_str()) {
            return invalid(format!("unsupported endpoint {}", request.endpoint));
        }
        if request
            .completion_window
            .as_deref()
            .is_some_and(|w| w != "24h")
        {
            return invalid("completion_window must be 24h");
        }
        let Some(lines) = self.lines(&request.input_file_id) else {
            return not_found("file");
        };
        let job = Job {
            id: self.id("batch_"),
            endpoint: request.endpoint,
            input_file_id: request.input_file_id,
            created: Instant::now(),
            created_at: 1_700_000_000,
            output_file_id: None,
            counts: (lines.len() as u64, 0, 0),
        };
        let view = job_json(&job, "validating");
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job.id.clone(), job);
        (StatusCode::OK, view)
    }

    fn lines(&self, file_id: &str) -> Option<Vec<Bytes>> {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let file = files.get(file_id)?;
        Some(
            file.split(|&b| b == b'\n')
                .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
                .map(|line| file.slice_ref(line))
                .collect(),
        )
    }

    fn status(&self, id: &str, delay: Duration, answer: Answer<'_>) -> (StatusCode, Value) {
        let (due, done, input, endpoint) = {
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let Some(job) = jobs.get(id) else {
                return not_found("batch");
            };
            (
                job.created.elapsed() >= delay,
                job.output_file_id.is_some(),
                job.input_file_id.clone(),
                job.endpoint.clone(),
            )
        };
        if due && !done {
            let output = self.run(&input, &endpoint, answer);
            let output_id = self.id("file-");
            let (completed, failed) = output.1;
            self.files
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(output_id.clone(), output.0);
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(job) = jobs.get_mut(id) {
                job.output_file_id = Some(output_id);
                job.counts = (completed + failed, completed, failed);
            }
        }
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(job) = jobs.get(id) else {
            return not_found("batch");
        };
        let state = if job.output_file_id.is_some() {
            "completed"
        } else {
            "in_progress"
        };
        (StatusCode::OK, job_json(job, state))
    }

    /// Answers every line of the input file: the output file, and how many
    /// lines were answered 2xx and how many not.
    fn run(&self, input: &str, endpoint: &str, answer: Answer<'_>) -> (Bytes, (u64, u64)) {
        let mut out = Vec::new();
        let (mut completed, mut failed) = (0, 0);
        for (n, line) in self
            .lines(input)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let record = match serde_json::from_slice::<Line>(&line) {
                Ok(line)
                    if line.url != endpoint
                        || line.method.as_deref().is_some_and(|m| m != "POST") =>
                {
                    failed += 1;
                    json!({"id": format!("batch_req_{n}"), "custom_id": line.custom_id, "response": null,
                           "error": {"code": "invalid_url", "message": "the line's url is not the batch's endpoint"}})
                }
                Ok(line) => {
                    let body = serde_json::to_vec(&line.body).unwrap_or_default();
                    let (status, body) = answer(&line.url, &body);
                    if status.is_success() {
                        completed += 1;
                    } else {
                        failed += 1;
                    }
                    json!({"id": format!("batch_req_{n}"), "custom_id": line.custom_id,
                           "response": {"status_code": status.as_u16(), "request_id": format!("req_{n}"), "body": body},
                           "error": null})
                }
                Err(_) => {
                    failed += 1;
                    json!({"id": format!("batch_req_{n}"), "custom_id": null, "response": null,
                           "error": {"code": "invalid_json_line", "message": "the line is not a request"}})
                }
            };
            out.extend_from_slice(record.to_string().as_bytes());
            out.push(b'\n');
        }
        (Bytes::from(out), (completed, failed))
    }

    fn content(&self, id: &str) -> Served {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        match files.get(id) {
            Some(file) => Served::File(file.clone()),
            None => {
                let (status, value) = not_found("file");
                Served::Json(status, value)
            }
        }
    }
}

fn job_json(job: &Job, status: &str) -> Value {
    let (total, completed, failed) = job.counts;
    json!({
        "id": job.id,
        "object": "batch",
        "endpoint": job.endpoint,
        "errors": null,
        "input_file_id": job.input_file_id,
        "completion_window": "24h",
        "status": status,
        "output_file_id": job.output_file_id,
        "error_file_id": null,
        "created_at": job.created_at,
        "request_counts": {"total": total, "completed": completed, "failed": failed}
    })
}
