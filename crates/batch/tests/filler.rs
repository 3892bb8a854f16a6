//! The Batch API filler against the mock's Files and Batch APIs over TCP:
//! answers handed to the store with the facts of the direct request, the
//! answers the provider refused left out, and failures reported.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use llm_layers_batch::filler::{
    BatchApiConfig, BatchFiller, BatchJob, BatchRequest, JobState, SubmitError,
};
use llm_layers_connector::HyperConnector;
use llm_layers_core::answer_store::{AnswerStore, StoreAnswerFuture};
use llm_layers_core::{CanonicalKey, RequestFacts};
use llm_layers_mock::{Fault, MockConfig, MockServer};
use serde_json::json;

/// Records what it is asked to store.
#[derive(Default)]
struct Recording(Mutex<Vec<(CanonicalKey, u16, Bytes)>>);

impl AnswerStore for Recording {
    fn store_answer<'a>(
        &'a self,
        facts: &'a RequestFacts,
        answer: http::Response<Bytes>,
    ) -> StoreAnswerFuture<'a> {
        let key = facts.canonical_key().unwrap();
        let status = answer.status().as_u16();
        self.0
            .lock()
            .unwrap()
            .push((key, status, answer.into_body()));
        Box::pin(async move { Ok(status == 200) })
    }
}

fn filler(mock: &MockServer, store: Arc<Recording>) -> BatchFiller {
    let config = BatchApiConfig::default()
        .base_url(mock.base_url())
        .poll_interval(Duration::from_millis(10));
    BatchFiller::new(HyperConnector::builder().build().unwrap(), store, config)
}

fn credential() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer sk-filler".parse().unwrap());
    headers
}

fn chat(text: &str) -> serde_json::Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
}

async fn finished(filler: &BatchFiller, id: &str) -> BatchJob {
    for _ in 0..500 {
        let job = filler.job(id).unwrap();
        if matches!(job.state, JobState::Done | JobState::Failed) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the job never ended: {:?}", filler.job(id));
}

/// The key the same request gets sent directly to the mock.
fn direct_key(mock: &MockServer, body: &serde_json::Value) -> CanonicalKey {
    let (parts, ()) = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("authorization", "Bearer sk-filler")
        .header("content-type", "application/json")
        .body(())
        .unwrap()
        .into_parts();
    RequestFacts::from_parts(&parts, Bytes::from(body.to_string()))
        .canonical_key()
        .unwrap()
}

#[tokio::test]
async fn answers_reach_the_store_under_the_direct_requests_keys() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let store = Arc::new(Recording::default());
    let filler = filler(&mock, store.clone());
    let bodies = [chat("one"), chat("two"), json!({"model": "gpt-4o-mini"})];
    let requests = bodies
        .iter()
        .map(|b| BatchRequest::new("/v1/chat/completions", b.clone()))
        .collect();
    let id = filler.submit(requests, credential()).unwrap();
    let job = finished(&filler, &id).await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert_eq!(
        (job.requests, job.completed, job.failed, job.stored),
        (3, 2, 1, 2)
    );
    let recorded = store.0.lock().unwrap();
    for body in &bodies[..2] {
        let (_, status, answer) = recorded
            .iter()
            .find(|(key, _, _)| *key == direct_key(&mock, body))
            .expect("stored under the direct request's key");
        assert_eq!(*status, 200);
        let answer: serde_json::Value = serde_json::from_slice(answer).unwrap();
        assert_eq!(answer["object"], "chat.completion");
    }
    assert_eq!(
        mock.stats().requests_to("/v1/chat/completions"),
        0,
        "nothing sent directly"
    );
    assert_eq!(mock.stats().requests_to("/v1/files"), 1);
    assert!(filler.jobs().iter().any(|job| job.id == id));
}

#[tokio::test]
async fn a_failing_upload_fails_the_job_with_a_reason() {
    let mock = MockServer::start(MockConfig::default().fault(Some(Fault::ServerError)))
        .await
        .unwrap();
    let filler = filler(&mock, Arc::default());
    let id = filler
        .submit(
            vec![BatchRequest::new("/v1/chat/completions", chat("x"))],
            credential(),
        )
        .unwrap();
    let job = finished(&filler, &id).await;
    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap()
            .contains("/v1/files answered 500"),
        "{job:?}"
    );
}

#[tokio::test]
async fn submissions_that_cannot_be_a_job_are_refused() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let filler = filler(&mock, Arc::default());
    assert_eq!(
        filler.submit(vec![], credential()),
        Err(SubmitError::Count(50_000))
    );
    let mixed = vec![
        BatchRequest::new("/v1/chat/completions", chat("a")),
        BatchRequest::new("/v1/embeddings", json!({"model": "e", "input": "b"})),
    ];
    assert_eq!(
        filler.submit(mixed, credential()),
        Err(SubmitError::MixedEndpoints)
    );
    let messages = vec![BatchRequest::new("/v1/messages", json!({}))];
    assert!(matches!(
        filler.submit(messages, credential()),
        Err(SubmitError::Endpoint(_))
    ));
    let stream = vec![BatchRequest::new(
        "/v1/chat/completions",
        json!({"model": "m", "stream": true}),
    )];
    assert_eq!(
        filler.submit(stream, credential()),
        Err(SubmitError::Body(0))
    );
    assert_eq!(mock.stats().requests_total, 0);
}

#[tokio::test]
async fn a_silent_api_fails_the_job_in_time_and_old_jobs_are_forgotten() {
    let mock = MockServer::start(MockConfig::default().latency(Duration::from_millis(300)))
        .await
        .unwrap();
    let config = BatchApiConfig::default()
        .base_url(mock.base_url())
        .request_timeout(Duration::from_millis(50))
        .max_jobs_kept(2);
    let filler = BatchFiller::new(
        HyperConnector::builder().build().unwrap(),
        Arc::new(Recording::default()),
        config,
    );
    let mut ids = Vec::new();
    for text in ["a", "b", "c"] {
        let id = filler
            .submit(
                vec![BatchRequest::new("/v1/chat/completions", chat(text))],
                credential(),
            )
            .unwrap();
        let job = finished(&filler, &id).await;
        assert_eq!(job.state, JobState::Failed);
        assert!(
            job.error.as_deref().unwrap().contains("did not answer"),
            "{job:?}"
        );
        ids.push(id);
    }
    let kept: Vec<String> = filler.jobs().into_iter().map(|job| job.id).collect();
    assert_eq!(
        kept,
        ids[1..].to_vec(),
        "the oldest ended job was forgotten"
    );
}
