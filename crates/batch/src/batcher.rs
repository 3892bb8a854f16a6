//! Gathering requests into batches, one pending batch per group, and
//! flushing each when its window ends or it is full.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use llm_layers_core::hash_map::HashMap;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::config::BatchConfig;
use crate::member::Joining;
use crate::split::{split, Share};
use crate::stats::BatchCounters;

/// The header on a batched member's answer: how many requests shared the
/// upstream request.
pub const BATCH_SIZE_HEADER: &str = "x-llm-batch-size";

/// An upstream answer, read whole.
pub(crate) struct Answered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends a batch's body upstream (with the leading member's head) and
/// reads a 2xx answer whole; `None` for anything else.
pub(crate) type Send = Box<
    dyn FnOnce(Bytes) -> Pin<Box<dyn Future<Output = Option<Answered>> + std::marker::Send>>
        + std::marker::Send,
>;

/// What a member is told once its batch went.
pub(crate) enum Outcome {
    /// Its own answer, cut from the batch's.
    Answer(Answered),
    /// Send your own request: the batch had nobody else, or failed (one
    /// member's bad input fails only that member this way).
    Alone,
}

struct Member {
    share: Share,
    inputs: Vec<Value>,
    told: oneshot::Sender<Outcome>,
}

struct Batch {
    id: u64,
    template: Map<String, Value>,
    send: Send,
    members: Vec<Member>,
    inputs: usize,
    bytes: usize,
}

/// The pending batches.
pub(crate) struct Batcher {
    pending: Mutex<HashMap<[u8; 32], Batch>>,
    next_id: AtomicU64,
    pub config: BatchConfig,
    pub counters: Arc<BatchCounters>,
}

impl Batcher {
    pub fn new(config: BatchConfig) -> Batcher {
        Batcher {
            pending: Mutex::default(),
            next_id: AtomicU64::new(0),
            config,
            counters: Arc::default(),
        }
    }

    /// Whether a request this size can be batched at all.
    pub fn fits(&self, joining: &Joining) -> bool {
        joining.inputs.len() <= self.config.max_inputs
            && joining.bytes <= self.config.max_input_bytes
    }

    /// Adds a request to its group's pending batch (starting one, with
    /// `send` and a timer, if there is none); the receiver says what came
    /// of it. Needs a Tokio runtime.
    pub fn join(
        self: &Arc<Self>,
        joining: Joining,
        send: impl FnOnce() -> Send,
    ) -> oneshot::Receiver<Outcome> {
        let (told, outcome) = oneshot::channel();
        let member = Member {
            share: Share {
                inputs: joining.inputs.len(),
                weight: joining.weights.iter().sum(),
            },
            inputs: joining.inputs,
            told,
        };
        let mut ready = Vec::new();
        let mut timer = None;
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let overflows = pending.get(&joining.group).is_some_and(|batch| {
                batch.inputs + member.share.inputs > self.config.max_inputs
                    || batch.bytes + joining.bytes > self.config.max_input_bytes
            });
            if overflows {
                ready.extend(pending.remove(&joining.group));
            }
            let batch = pending.entry(joining.group).or_insert_with(|| {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                timer = Some(id);
                Batch {
                    id,
                    template: joining.template,
                    send: send(),
                    members: Vec::new(),
                    inputs: 0,
                    bytes: 0,
                }
            });
            batch.inputs += member.share.inputs;
            batch.bytes += joining.bytes;
            batch.members.push(member);
            if batch.inputs >= self.config.max_inputs {
                ready.extend(pending.remove(&joining.group));
                timer = None;
            }
        }
        for batch in ready {
            tokio::spawn(self.clone().flush(batch));
        }
        if let Some(id) = timer {
            let batcher = self.clone();
            let group = joining.group;
            tokio::spawn(async move {
                tokio::time::sleep(batcher.config.window).await;
                let batch = {
                    let mut pending = batcher.pending.lock().unwrap_or_else(|e| e.into_inner());
                    match pending.get(&group) {
                        Some(batch) if batch.id == id => pending.remove(&group),
                        _ => None,
                    }
                };
                if let Some(batch) = batch {
                    batcher.flush(batch).await;
                }
            });
        }
        outcome
    }

    /// Sends a batch and tells each member what came of it.
    async fn flush(self: Arc<Self>, batch: Batch) {
        if batch.members.len() == 1 {
            alone(batch.members);
            return;
        }
        let Batch {
            mut template,
            send,
            members,
            inputs,
            ..
        } = batch;
        let shares: Vec<Share> = members.iter().map(|member| member.share).collect();
        let mut members = members;
        let all_inputs: Vec<Value> = members
            .iter_mut()
            .flat_map(|member| std::mem::take(&mut member.inputs))
            .collect();
        template.insert("input".into(), Value::Array(all_inputs));
        let Ok(body) = serde_json::to_vec(&template) else {
            alone(members);
            return;
        };
        self.counters.sent(inputs);
        let answered = send(Bytes::from(body)).await;
        let bodies = answered
            .as_ref()
            .and_then(|answered| split(&answered.body, &shares));
        let (Some(answered), Some(bodies)) = (answered, bodies) else {
            self.counters.failed();
            alone(members);
            return;
        };
        self.counters.answered(members.len());
        let mut headers = answered.headers;
        headers.remove(http::header::CONTENT_LENGTH);
        headers.insert(BATCH_SIZE_HEADER, HeaderValue::from(members.len()));
        for (member, body) in members.into_iter().zip(bodies) {
            // A member that hung up is simply not told.
            let _ = member.told.send(Outcome::Answer(Answered {
                status: answered.status,
                headers: headers.clone(),
                body,
            }));
        }
    }
}

fn alone(members: Vec<Member>) {
    for member in members {
        let _ = member.told.send(Outcome::Alone);
    }
}
