//! One job, start to end: upload, create, poll, download, store.

use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::Full;
use llm_layers_core::RequestFacts;
use serde::Deserialize;
use serde_json::{json, Value};
use tower::{BoxError, ServiceExt};

use super::jsonl::{input_file, multipart, output_answers};
use super::{BatchFiller, JobState};

pub(super) struct Run {
    pub filler: BatchFiller,
    pub id: String,
    pub endpoint: String,
    pub headers: HeaderMap,
    pub bodies: Vec<Value>,
    pub facts: Vec<RequestFacts>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct BatchView {
    id: String,
    status: String,
    output_file_id: Option<String>,
    request_counts: Option<Counts>,
}

#[derive(Deserialize)]
struct Counts {
    #[serde(default)]
    completed: u64,
    #[serde(default)]
    failed: u64,
}

impl Run {
    pub async fn run(self) {
        if let Err(error) = self.steps().await {
            let message = error.to_string();
            tracing::warn!(target: "llm_layers::batch", job = %self.id, error = %message, "batch job failed");
            self.filler.update(&self.id, |job| {
                job.state = JobState::Failed;
                job.error = Some(message);
            });
        }
    }

    async fn steps(&self) -> Result<(), BoxError> {
        let (content_type, upload) = multipart(&input_file(&self.endpoint, &self.bodies));
        let file: Created = self
            .call(Method::POST, "/v1/files", Some(&content_type), upload)
            .await?;
        let create = json!({"input_file_id": file.id, "endpoint": self.endpoint, "completion_window": "24h"});
        let body = Bytes::from(create.to_string());
        let mut batch: BatchView = self
            .call(Method::POST, "/v1/batches", Some("application/json"), body)
            .await?;
        let started = Instant::now();
        loop {
            self.filler.update(&self.id, |job| {
                job.state = JobState::Running;
                job.batch_id = Some(batch.id.clone());
                job.batch_status = Some(batch.status.clone());
                if let Some(counts) = &batch.request_counts {
                    job.completed = counts.completed;
                    job.failed = counts.failed;
                }
            });
            match batch.status.as_str() {
                "completed" => break,
                "failed" | "expired" | "cancelled" | "cancelling" => {
                    return Err(format!("the batch ended {}", batch.status).into())
                }
                _ => {}
            }
            if started.elapsed() >= self.filler.config.max_wait {
                return Err("gave up waiting for the batch".into());
            }
            tokio::time::sleep(self.filler.config.poll_interval).await;
            let path = format!("/v1/batches/{}", batch.id);
            batch = self.call(Method::GET, &path, None, Bytes::new()).await?;
        }
        self.filler
            .update(&self.id, |job| job.state = JobState::Storing);
        let output_id = batch
            .output_file_id
            .ok_or("the batch completed without an output file")?;
        let output = self
            .fetch(&format!("/v1/files/{output_id}/content"))
            .await?;
        for answer in output_answers(&output, self.facts.len()) {
            let mut response = Response::new(answer.body);
            *response.status_mut() =
                http::StatusCode::from_u16(answer.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if self
                .filler
                .store
                .store_answer(&self.facts[answer.index], response)
                .await?
            {
                self.filler.update(&self.id, |job| job.stored += 1);
            }
        }
        self.filler
            .update(&self.id, |job| job.state = JobState::Done);
        Ok(())
    }

    /// A JSON call to the API; its answer read as `T`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<T, BoxError> {
        let response = self.send(method, path, content_type, body).await?;
        Ok(serde_json::from_slice(response.body())?)
    }

    /// A file's bytes.
    async fn fetch(&self, path: &str) -> Result<Bytes, BoxError> {
        Ok(self
            .send(Method::GET, path, None, Bytes::new())
            .await?
            .into_body())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Response<Bytes>, BoxError> {
        let uri = format!(
            "{}{path}",
            self.filler.config.base_url.trim_end_matches('/')
        );
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri.parse()?;
        *request.headers_mut() = self.headers.clone();
        if let Some(content_type) = content_type {
            request
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type)?);
        }
        let limit = self.filler.config.request_timeout;
        let response = tokio::time::timeout(limit, self.filler.client.clone().oneshot(request))
            .await
            .map_err(|_| format!("{path} did not answer within {limit:?}"))??;
        if !response.status().is_success() {
            let detail = String::from_utf8_lossy(response.body())
                .chars()
                .take(300)
                .collect::<String>();
            return Err(format!("{path} answered {}: {detail}", response.status()).into());
        }
        Ok(response)
    }
}
