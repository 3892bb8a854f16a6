//! One breaker's state machine, decided without I/O: the time comes in as
//! an argument, so the tests drive it through every transition.
//!
//! ```text
//! closed --(failure ratio over the window)--> open
//! open --(cool-down over; a call arrives)--> half-open (that call is a probe)
//! half-open --(every probe succeeded)--> closed
//! half-open --(a probe failed)--> open
//! ```

use std::time::{Duration, Instant};

use super::policy::BreakerPolicy;

/// A breaker's state, as `/stats` and the gauge show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are answered at once, without the upstream.
    Open,
    /// A few probes go through; the rest are answered as when open.
    HalfOpen,
}

impl CircuitState {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// The gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            CircuitState::Closed => 0.0,
            CircuitState::HalfOpen => 1.0,
            CircuitState::Open => 2.0,
        }
    }
}

/// What a call may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go through, counted in the window.
    Call,
    /// Go through as a half-open probe.
    Probe,
    /// Answered at once; the breaker admits calls again after this long.
    Rejected { retry_after: Duration },
}

/// How a call ended, for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    /// The caller gave up first: says nothing about the upstream.
    Cancelled,
}

/// The window's buckets.
const BUCKETS: usize = 10;

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Which bucket-width slot since `origin` this bucket holds.
    slot: u64,
    calls: u32,
    failures: u32,
}

/// One breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: State,
    origin: Instant,
    buckets: [Bucket; BUCKETS],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { out: u32, succeeded: u32 },
}

impl Breaker {
    pub fn new(now: Instant) -> Breaker {
        Breaker {
            state: State::Closed,
            origin: now,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    pub fn state(&self) -> CircuitState {
        match self.state {
            State::Closed => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Calls and failures in the window ending now.
    pub fn window(&self, now: Instant, policy: &BreakerPolicy) -> (u32, u32) {
        let current = self.slot(now, policy);
        self.buckets
            .iter()
            .filter(|bucket| bucket.slot + BUCKETS as u64 > current && bucket.slot <= current)
            .fold((0, 0), |(calls, failures), bucket| {
                (calls + bucket.calls, failures + bucket.failures)
            })
    }

    /// Whether a call may go through now; moves open to half-open once the
    /// cool-down is over.
    pub fn admit(&mut self, now: Instant, policy: &BreakerPolicy) -> Admission {
        match self.state {
            State::Closed => Admission::Call,
            State::Open { until } if now < until => Admission::Rejected {
                retry_after: until - now,
            },
            State::Open { .. } => {
                self.state = State::HalfOpen {
                    out: 1,
                    succeeded: 0,
                };
                Admission::Probe
            }
            State::HalfOpen { out, succeeded }
                if out + succeeded < policy.half_open_probes.max(1) =>
            {
                self.state = State::HalfOpen {
                    out: out + 1,
                    succeeded,
                };
                Admission::Probe
            }
            // Probes are out: the others wait for their verdict.
            State::HalfOpen { .. } => Admission::Rejected {
                retry_after: Duration::from_secs(1),
            },
        }
    }

    /// Takes a call's outcome into account; the new state when it changed.
    pub fn record(
        &mut self,
        outcome: Outcome,
        probe: bool,
        now: Instant,
        policy: &BreakerPolicy,
    ) -> Option<CircuitState> {
        let before = self.state();
        match (self.state, probe) {
            (State::HalfOpen { out, succeeded }, true) => {
                let out = out.saturating_sub(1);
                self.state = match outcome {
                    Outcome::Failure => State::Open {
                        until: now + policy.cool_down,
                    },
                    Outcome::Cancelled => State::HalfOpen { out, succeeded },
                    Outcome::Success if succeeded + 1 >= policy.half_open_probes.max(1) => {
                        self.buckets = [Bucket::default(); BUCKETS];
                        State::Closed
                    }
                    Outcome::Success => State::HalfOpen {
                        out,
                        succeeded: succeeded + 1,
                    },
                };
            }
            (State::Closed, false) if outcome != Outcome::Cancelled => {
                self.count(outcome == Outcome::Failure, now, policy);
                let (calls, failures) = self.window(now, policy);
                let tripped = calls >= policy.min_calls.max(1)
                    && f64::from(failures) >= policy.failure_ratio * f64::from(calls);
                if outcome == Outcome::Failure && tripped {
                    self.state = State::Open {
                        until: now + policy.cool_down,
                    };
                }
            }
            // A call admitted before the state changed: its news is stale.
            _ => {}
        }
        let after = self.state();
        (after != before).then_some(after)
    }

    fn slot(&self, now: Instant, policy: &BreakerPolicy) -> u64 {
        let width = (policy.window / BUCKETS as u32).max(Duration::from_millis(1));
        (now.saturating_duration_since(self.origin).as_nanos() / width.as_nanos()) as u64
    }

    fn count(&mut self, failed: bool, now: Instant, policy: &BreakerPolicy) {
        let slot = self.slot(now, policy);
        let bucket = &mut self.buckets[(slot % BUCKETS as u64) as usize];
        if bucket.slot != slot {
            *bucket = Bucket {
                slot,
                ..Bucket::default()
            };
        }
        bucket.calls += 1;
        bucket.failures += u32::from(failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy::default().min_calls(4).half_open_probes(2)
    }

    #[test]
    fn opens_at_the_failure_ratio_once_the_window_holds_enough_calls() {
        let policy = policy();
        let start = Instant::now();
        let mut breaker = Breaker::new(start);
        for _ in 0..3 {
            assert_eq!(breaker.admit(start, &policy), Admission::Call);
            assert_eq!(
                breaker.record(Outcome::Failure, false, start, &policy),
                None
            );
        }
        assert_eq!(
            breaker.record(Outcome::Success, false, start, &policy),
            None
        );
        assert_eq!(breaker.window(start, &policy), (4, 3));
        assert_eq!(
            breaker.record(Outcome::Failure, false, start, &policy),
            Some(CircuitState::Open)
        );
        match breaker.admit(start + Duration::from_secs(10), &policy) {
            Admission::Rejected { retry_after } => assert_eq!(retry_after, Duration::from_secs(20)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn successes_and_cancellations_do_not_open_it_and_old_failures_expire() {
        let policy = policy();
        let start = Instant::now();
        let mut breaker = Breaker::new(start);
        for _ in 0..10 {
            breaker.record(Outcome::Success, false, start, &policy);
            breaker.record(Outcome::Cancelled, false, start, &policy);
        }
        for _ in 0..3 {
            breaker.record(Outcome::Failure, false, start, &policy);
        }
        assert_eq!(breaker.state(), CircuitState::Closed, "3 of 13 failed");
        let later = start + Duration::from_secs(31);
        assert_eq!(
            breaker.window(later, &policy),
            (0, 0),
            "the window slid past them"
        );
        breaker.record(Outcome::Failure, false, later, &policy);
        assert_eq!(breaker.state(), CircuitState::Closed, "1 call is too few");
    }

    #[test]
    fn half_open_probes_close_it_or_open_it_again() {
        let policy = policy();
        let start = Instant::now();
        let mut breaker = Breaker::new(start);
        for _ in 0..4 {
            breaker.record(Outcome::Failure, false, start, &policy);
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        let after = start + Duration::from_secs(30);
        assert_eq!(breaker.admit(after, &policy), Admission::Probe);
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert_eq!(breaker.admit(after, &policy), Admission::Probe);
        assert!(matches!(
            breaker.admit(after, &policy),
            Admission::Rejected { .. }
        ));
        // A call admitted while closed reports late: ignored.
        assert_eq!(
            breaker.record(Outcome::Failure, false, after, &policy),
            None
        );
        assert_eq!(breaker.record(Outcome::Success, true, after, &policy), None);
        assert_eq!(
            breaker.record(Outcome::Success, true, after, &policy),
            Some(CircuitState::Closed)
        );
        assert_eq!(breaker.window(after, &policy), (0, 0), "a fresh window");

        for _ in 0..4 {
            breaker.record(Outcome::Failure, false, after, &policy);
        }
        let later = after + Duration::from_secs(30);
        assert_eq!(breaker.admit(later, &policy), Admission::Probe);
        assert_eq!(
            breaker.record(Outcome::Failure, true, later, &policy),
            Some(CircuitState::Open)
        );
        // A cancelled probe frees its place.
        let again = later + Duration::from_secs(30);
        assert_eq!(breaker.admit(again, &policy), Admission::Probe);
        assert_eq!(breaker.admit(again, &policy), Admission::Probe);
        breaker.record(Outcome::Cancelled, true, again, &policy);
        assert_eq!(breaker.admit(again, &policy), Admission::Probe);
    }
}
