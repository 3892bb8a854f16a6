//! The OpenAI Batch API as a cache filler: requests submitted together are
//! sent as one batch job (at half the price, answered within 24 hours), and
//! each answer is stored in the response cache under the key the same
//! request would have had if sent directly, so later identical calls are
//! hits bought at the batch price.
//!
//! A job uploads the requests as JSONL to `/v1/files`, creates a
//! `/v1/batches` job, polls it, downloads the output file, and hands each
//! 2xx answer to an [`AnswerStore`] (the cache layer is one).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use bytes::Bytes;
//! use llm_layers_batch::filler::{BatchApiConfig, BatchFiller, BatchRequest, JobState};
//! use llm_layers_core::answer_store::{AnswerStore, StoreAnswerFuture};
//! use llm_layers_core::RequestFacts;
//! use llm_layers_mock::{MockConfig, MockServer};
//!
//! /// Keeps the answers it is given (a `CacheLayer` would store them).
//! #[derive(Default)]
//! struct Kept(Mutex<Vec<Bytes>>);
//!
//! impl AnswerStore for Kept {
//!     fn store_answer<'a>(&'a self, _: &'a RequestFacts, answer: http::Response<Bytes>) -> StoreAnswerFuture<'a> {
//!         self.0.lock().unwrap().push(answer.into_body());
//!         Box::pin(async { Ok(true) })
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default()).await.unwrap();
//! let kept = Arc::new(Kept::default());
//! let config = BatchApiConfig::default()
//!     .base_url(mock.base_url())
//!     .poll_interval(std::time::Duration::from_millis(20));
//! let client = llm_layers_connector::HyperConnector::builder().build().unwrap();
//! let filler = BatchFiller::new(client, kept.clone(), config);
//! let mut credential = http::HeaderMap::new();
//! credential.insert("authorization", "Bearer sk-demo".parse().unwrap());
//! let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
//! let id = filler
//!     .submit(vec![BatchRequest::new("/v1/chat/completions", body)], credential)
//!     .unwrap();
//! while !matches!(filler.job(&id).unwrap().state, JobState::Done | JobState::Failed) {
//!     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//! }
//! assert_eq!(filler.job(&id).unwrap().stored, 1);
//! assert_eq!(kept.0.lock().unwrap().len(), 1);
//! # });
//! ```

mod job;
mod jsonl;

#[doc(hidden)]
pub use jsonl::{output_answers, Answered};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use llm_layers_core::answer_store::AnswerStore;
use llm_layers_core::RequestFacts;
use serde::Serialize;
use serde_json::Value;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceExt};

/// How the filler talks to the Batch API.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BatchApiConfig {
    /// The upstream's base URL; request paths are appended to it.
    /// Default `https://api.openai.com`.
    pub base_url: String,
    /// Time between two looks at a running job. Default 30 s.
    pub poll_interval: Duration,
    /// A job still running after this long is given up (its answers may
    /// still arrive at the provider). Default 25 hours.
    pub max_wait: Duration,
    /// Requests in one job at most (OpenAI's limit). Default 50,000.
    pub max_requests: usize,
    /// Largest file read back from the Files API. Default 512 MiB.
    pub max_file_bytes: usize,
    /// Longest wait for one call to the Files or Batch API (an upload or a
    /// download included); beyond it the job fails. Default 10 minutes.
    pub request_timeout: Duration,
    /// Jobs kept for [`BatchFiller::jobs`]; beyond, the oldest ended ones
    /// are forgotten. Default 1,000.
    pub max_jobs_kept: usize,
}

impl Default for BatchApiConfig {
    fn default() -> Self {
        BatchApiConfig {
            base_url: "https://api.openai.com".into(),
            poll_interval: Duration::from_secs(30),
            max_wait: Duration::from_secs(25 * 3600),
            max_requests: 50_000,
            max_file_bytes: 512 << 20,
            request_timeout: Duration::from_secs(600),
            max_jobs_kept: 1000,
        }
    }
}

llm_layers_core::config_setters!(BatchApiConfig {
    base_url: String,
    poll_interval: Duration,
    max_wait: Duration,
    max_requests: usize,
    max_file_bytes: usize,
    request_timeout: Duration,
    max_jobs_kept: usize,
});

/// The endpoints a batch job can target.
pub const ENDPOINTS: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
];

/// One request of a job: its path (`/v1/chat/completions`) and JSON body.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct BatchRequest {
    /// The endpoint; every request of a job has the same one.
    pub url: String,
    /// The request body.
    pub body: Value,
}

impl BatchRequest {
    /// A request to `url` with `body`.
    pub fn new(url: impl Into<String>, body: Value) -> BatchRequest {
        BatchRequest {
            url: url.into(),
            body,
        }
    }
}

/// Why a job was not started.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    /// No request, or more than a job takes.
    #[error("a batch job takes 1 to {0} requests")]
    Count(usize),
    /// The requests target more than one endpoint.
    #[error("every request of a batch job must have the same url")]
    MixedEndpoints,
    /// The endpoint is not one the Batch API serves.
    #[error("the Batch API does not serve {0}")]
    Endpoint(String),
    /// A body is not a JSON object, or asks for a stream.
    #[error("request {0}: the body must be a JSON object without \"stream\": true")]
    Body(usize),
    /// No Tokio runtime to run the job on.
    #[error("no Tokio runtime to run the job on")]
    NoRuntime,
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Uploading the requests.
    Uploading,
    /// The provider is working on it.
    Running,
    /// Reading the answers into the cache.
    Storing,
    /// Every answer that came back is stored.
    Done,
    /// It ended without answers (see `error`).
    Failed,
}

/// A job's figures, as `/stats` and the admin route show them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BatchJob {
    /// Our id for the job.
    pub id: String,
    /// Where it is.
    pub state: JobState,
    /// The endpoint its requests target.
    pub endpoint: String,
    /// Requests in it.
    pub requests: u64,
    /// The provider's batch id, once created.
    pub batch_id: Option<String>,
    /// The provider's last status (`validating`, `in_progress`, …).
    pub batch_status: Option<String>,
    /// Requests the provider answered 2xx, and those it did not.
    pub completed: u64,
    /// Requests the provider did not answer 2xx.
    pub failed: u64,
    /// Answers stored in the cache.
    pub stored: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// The HTTP client the filler uses (bodies read whole, bounded).
type Client = BoxCloneSyncService<Request<Full<Bytes>>, Response<Bytes>, BoxError>;

/// Submits batch jobs and keeps their figures. Cheap to clone.
#[derive(Clone)]
pub struct BatchFiller {
    client: Client,
    store: Arc<dyn AnswerStore>,
    config: Arc<BatchApiConfig>,
    jobs: Arc<Mutex<BTreeMap<String, BatchJob>>>,
    next_id: Arc<AtomicU64>,
}

impl BatchFiller {
    /// A filler sending through `client` (the connector, usually: the
    /// Files and Batch API calls need no cache) and storing into `store`.
    pub fn new<S, B>(client: S, store: Arc<dyn AnswerStore>, config: BatchApiConfig) -> BatchFiller
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let limit = config.max_file_bytes;
        let client = client
            .map_err(Into::into)
            .and_then(move |response: Response<B>| async move {
                let (parts, body) = response.into_parts();
                let body = Limited::new(body, limit).collect().await?.to_bytes();
                Ok::<_, BoxError>(Response::from_parts(parts, body))
            });
        BatchFiller {
            client: BoxCloneSyncService::new(client),
            store,
            config: Arc::new(config),
            jobs: Arc::default(),
            next_id: Arc::default(),
        }
    }

    /// Starts a job for `requests`, sent with `headers` (the credential:
    /// answers are stored in its partition); its id.
    pub fn submit(
        &self,
        requests: Vec<BatchRequest>,
        headers: HeaderMap,
    ) -> Result<String, SubmitError> {
        if requests.is_empty() || requests.len() > self.config.max_requests {
            return Err(SubmitError::Count(self.config.max_requests));
        }
        let endpoint = requests[0].url.clone();
        if requests.iter().any(|request| request.url != endpoint) {
            return Err(SubmitError::MixedEndpoints);
        }
        if !ENDPOINTS.contains(&endpoint.as_str()) {
            return Err(SubmitError::Endpoint(endpoint));
        }
        if let Some(bad) = requests.iter().position(|request| {
            !request.body.is_object() || request.body.get("stream") == Some(&Value::Bool(true))
        }) {
            return Err(SubmitError::Body(bad));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SubmitError::NoRuntime)?;
        // The facts of each request as if sent directly: its cache key.
        let uri = format!("{}{endpoint}", self.config.base_url.trim_end_matches('/'));
        let facts: Vec<RequestFacts> = requests
            .iter()
            .map(|request| {
                let mut direct = Request::post(uri.as_str()).body(()).unwrap_or_default();
                *direct.headers_mut() = headers.clone();
                let (parts, ()) = direct.into_parts();
                let body = serde_json::to_vec(&request.body).unwrap_or_default();
                RequestFacts::from_parts(&parts, Bytes::from(body))
            })
            .collect();
        let id = format!(
            "llb_{:012}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        );
        let job = BatchJob {
            id: id.clone(),
            state: JobState::Uploading,
            endpoint: endpoint.clone(),
            requests: requests.len() as u64,
            batch_id: None,
            batch_status: None,
            completed: 0,
            failed: 0,
            stored: 0,
            error: None,
        };
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            // The oldest ended jobs go first (ids sort by age: zero-padded).
            while jobs.len() >= self.config.max_jobs_kept.max(1) {
                let ended = jobs
                    .iter()
                    .find(|(_, job)| matches!(job.state, JobState::Done | JobState::Failed))
                    .map(|(id, _)| id.clone());
                match ended {
                    Some(id) => jobs.remove(&id),
                    None => break,
                };
            }
            jobs.insert(id.clone(), job);
        }
        let bodies: Vec<Value> = requests.into_iter().map(|request| request.body).collect();
        let run = job::Run {
            filler: self.clone(),
            id: id.clone(),
            endpoint,
            headers,
            bodies,
            facts,
        };
        runtime.spawn(run.run());
        Ok(id)
    }

    /// A job's figures.
    pub fn job(&self, id: &str) -> Option<BatchJob> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Every job's figures, oldest first.
    pub fn jobs(&self) -> Vec<BatchJob> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut BatchJob)) {
        if let Some(job) = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
        {
            change(job);
        }
    }
}
