//! The breakers of a layer, one per upstream origin and model, and the
//! metrics their transitions emit.

use std::sync::Mutex;
use std::time::Instant;

use llm_layers_core::hash_map::HashMap;

use super::policy::BreakerPolicy;
use super::state::{Admission, Breaker, CircuitState, Outcome};

/// Which breaker a call belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BreakerKey {
    pub origin: String,
    pub model: String,
}

/// One breaker as `/stats` shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The upstream origin (`https://api.openai.com`).
    pub origin: String,
    /// The model (`unknown` when the request's facts did not say).
    pub model: String,
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    /// Calls and failures in the current window.
    pub calls: u32,
    /// See `calls`.
    pub failures: u32,
}

pub(crate) struct Registry {
    pub policy: BreakerPolicy,
    breakers: Mutex<HashMap<BreakerKey, Breaker>>,
}

impl Registry {
    pub fn new(policy: BreakerPolicy) -> Registry {
        Registry {
            policy,
            breakers: Mutex::default(),
        }
    }

    /// Whether a call for `key` may go through now.
    pub fn admit(&self, key: &BreakerKey, now: Instant) -> Admission {
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        if !breakers.contains_key(key) {
            if !make_room(&mut breakers, self.policy.max_breakers) {
                return Admission::Call;
            }
            breakers.insert(key.clone(), Breaker::new(now));
        }
        let Some(breaker) = breakers.get_mut(key) else {
            return Admission::Call;
        };
        let before = breaker.state();
        let admission = breaker.admit(now, &self.policy);
        if breaker.state() != before {
            transition(key, breaker.state());
        }
        if matches!(admission, Admission::Rejected { .. }) {
            metrics::counter!(
                "llm_circuit_rejected_total",
                "origin" => key.origin.clone(),
                "model" => key.model.clone()
            )
            .increment(1);
        }
        admission
    }

    /// Takes a call's outcome into account.
    pub fn record(&self, key: &BreakerKey, outcome: Outcome, probe: bool, now: Instant) {
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        let Some(breaker) = breakers.get_mut(key) else {
            return;
        };
        if let Some(state) = breaker.record(outcome, probe, now, &self.policy) {
            transition(key, state);
        }
    }

    /// Every breaker, sorted by origin and model.
    pub fn snapshot(&self, now: Instant) -> Vec<BreakerSnapshot> {
        let breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<BreakerSnapshot> = breakers
            .iter()
            .map(|(key, breaker)| {
                let (calls, failures) = breaker.window(now, &self.policy);
                BreakerSnapshot {
                    origin: key.origin.clone(),
                    model: key.model.clone(),
                    state: breaker.state().as_str(),
                    calls,
                    failures,
                }
            })
            .collect();
        rows.sort_by(|a, b| (&a.origin, &a.model).cmp(&(&b.origin, &b.model)));
        rows
    }
}

/// Room for one more breaker: forgets a closed one when full; `false`
/// when every breaker is open or half-open (the new pair goes unwatched).
fn make_room(breakers: &mut HashMap<BreakerKey, Breaker>, max: usize) -> bool {
    if breakers.len() < max {
        return true;
    }
    let closed = breakers
        .iter()
        .find(|(_, breaker)| breaker.state() == CircuitState::Closed)
        .map(|(key, _)| key.clone());
    match closed {
        Some(key) => {
            breakers.remove(&key);
            true
        }
        None => false,
    }
}

fn transition(key: &BreakerKey, state: CircuitState) {
    metrics::gauge!(
        "llm_circuit_state",
        "origin" => key.origin.clone(),
        "model" => key.model.clone()
    )
    .set(state.gauge());
    metrics::counter!(
        "llm_circuit_transitions_total",
        "origin" => key.origin.clone(),
        "model" => key.model.clone(),
        "to" => state.as_str()
    )
    .increment(1);
}
