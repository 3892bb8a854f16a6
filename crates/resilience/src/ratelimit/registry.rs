//! Which partitions and models have spent their quota, until when, and
//! how many calls wait for them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use llm_layers_core::hash_map::HashMap;
use llm_layers_core::CredentialFingerprint;

/// A credential partition and a model.
pub(crate) type Partition = (Option<CredentialFingerprint>, String);

#[derive(Debug, Default)]
struct Spent {
    until: Option<Instant>,
    waiting: usize,
}

/// What a call finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finding {
    /// The quota is not known to be spent.
    Free,
    /// Spent for this long; the call may wait in the queue (it is counted).
    Wait(Duration),
    /// Spent for this long; the call may not wait.
    Refuse(Duration),
}

pub(crate) struct Registry {
    spent: Mutex<HashMap<Partition, Spent>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            spent: Mutex::default(),
        }
    }

    /// Whether a call for `partition` goes now, waits, or is refused.
    pub fn find(
        &self,
        partition: &Partition,
        now: Instant,
        max_wait: Duration,
        max_waiting: usize,
        may_wait: bool,
    ) -> Finding {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = spent.get_mut(partition) else {
            return Finding::Free;
        };
        let left = match entry.until {
            Some(until) if until > now => until - now,
            _ => return Finding::Free,
        };
        if may_wait && left <= max_wait && entry.waiting < max_waiting {
            entry.waiting += 1;
            return Finding::Wait(left);
        }
        Finding::Refuse(left)
    }

    /// A waiting call is done waiting.
    pub fn done_waiting(&self, partition: &Partition) {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = spent.get_mut(partition) {
            entry.waiting = entry.waiting.saturating_sub(1);
        }
    }

    /// What an answer said: spent for this long, or not.
    pub fn learn(
        &self,
        partition: &Partition,
        spent_for: Option<Duration>,
        now: Instant,
        max_partitions: usize,
    ) {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        match (spent_for, spent.get_mut(partition)) {
            (None, Some(entry)) => entry.until = None,
            (None, None) => {}
            (Some(left), Some(entry)) => entry.until = Some(now + left),
            (Some(left), None) => {
                if spent.len() >= max_partitions {
                    spent.retain(|_, entry| {
                        entry.waiting > 0 || entry.until.is_some_and(|until| until > now)
                    });
                }
                if spent.len() < max_partitions {
                    let entry = Spent {
                        until: Some(now + left),
                        waiting: 0,
                    };
                    spent.insert(partition.clone(), entry);
                }
            }
        }
    }
}
