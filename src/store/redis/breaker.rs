//! The circuit breaker in front of Redis (crate `failsafe`).
//!
//! failsafe counts what it is told: a hang is not a failure by itself, so every call is
//! timed out before its result is recorded (see [`super::Redis::run`]). Its half-open state
//! would let every caller through at once; here only one probe runs at a time and the rest
//! are refused until the probe says whether Redis is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use failsafe::backoff::{self, Exponential};
use failsafe::failure_policy::{self, ConsecutiveFailures};
use failsafe::{Instrument, StateMachine};

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// Consecutive infrastructure failures that open the breaker.
const FAILURES_TO_OPEN: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Mirrors failsafe's state so it can be read without a call.
#[derive(Clone, Default)]
struct StateTracker(Arc<AtomicU8>);

impl Instrument for StateTracker {
    fn on_call_rejected(&self) {
        metrics::counter!("boxoffice_redis_breaker_rejected_total").increment(1);
    }
    fn on_open(&self) {
        tracing::warn!("redis circuit breaker opened");
        self.0.store(OPEN, Ordering::SeqCst);
        metrics::gauge!("boxoffice_redis_breaker_state").set(f64::from(OPEN));
    }
    fn on_half_open(&self) {
        self.0.store(HALF_OPEN, Ordering::SeqCst);
        metrics::gauge!("boxoffice_redis_breaker_state").set(f64::from(HALF_OPEN));
    }
    fn on_closed(&self) {
        if self.0.swap(CLOSED, Ordering::SeqCst) != CLOSED {
            tracing::info!("redis circuit breaker closed");
        }
        metrics::gauge!("boxoffice_redis_breaker_state").set(f64::from(CLOSED));
    }
}

pub struct Breaker {
    machine: StateMachine<ConsecutiveFailures<Exponential>, StateTracker>,
    state: StateTracker,
    probing: Arc<AtomicBool>,
}

/// Leave to make one call. A half-open probe frees its slot when dropped.
pub struct Permit {
    probe: Option<Arc<AtomicBool>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(flag) = &self.probe {
            flag.store(false, Ordering::SeqCst);
        }
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new(backoff::exponential(Duration::from_secs(1), Duration::from_secs(15)))
    }
}

impl Breaker {
    pub fn new(open_for: Exponential) -> Self {
        let state = StateTracker::default();
        let policy = failure_policy::consecutive_failures(FAILURES_TO_OPEN, open_for);
        let machine = failsafe::Config::new().failure_policy(policy).instrument(state.clone()).build();
        // A new breaker is closed: say so from the start, not only after its first change.
        metrics::gauge!("boxoffice_redis_breaker_state").set(f64::from(CLOSED));
        Self { machine, state, probing: Arc::new(AtomicBool::new(false)) }
    }

    pub fn state(&self) -> BreakerState {
        match self.state.0.load(Ordering::SeqCst) {
            OPEN => BreakerState::Open,
            HALF_OPEN => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    /// `None` while the breaker is open, or half-open with a probe already under way.
    pub fn permit(&self) -> Option<Permit> {
        if !self.machine.is_call_permitted() {
            return None;
        }
        if self.state() != BreakerState::HalfOpen {
            return Some(Permit { probe: None });
        }
        let won = self.probing.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok();
        won.then(|| Permit { probe: Some(self.probing.clone()) })
    }

    pub fn record(&self, healthy: bool) {
        if healthy { self.machine.on_success() } else { self.machine.on_error() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> Breaker {
        Breaker::new(backoff::exponential(Duration::from_secs(1), Duration::from_secs(1)))
    }

    #[test]
    fn five_failures_in_a_row_open_the_breaker() {
        let breaker = quick();
        for _ in 0..4 {
            breaker.record(false);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record(false);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.permit().is_none());
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = quick();
        for _ in 0..4 {
            breaker.record(false);
        }
        breaker.record(true);
        for _ in 0..4 {
            breaker.record(false);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_closes_on_its_success() {
        failsafe::clock::freeze(|clock| {
            let breaker = quick();
            for _ in 0..5 {
                breaker.record(false);
            }
            clock.advance(Duration::from_millis(1001));
            let probe = breaker.permit().expect("the first caller probes");
            assert_eq!(breaker.state(), BreakerState::HalfOpen);
            assert!(breaker.permit().is_none(), "a second caller must wait for the probe");
            breaker.record(true);
            drop(probe);
            assert_eq!(breaker.state(), BreakerState::Closed);
            assert!(breaker.permit().is_some());
        });
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        failsafe::clock::freeze(|clock| {
            let breaker = quick();
            for _ in 0..5 {
                breaker.record(false);
            }
            clock.advance(Duration::from_millis(1001));
            let probe = breaker.permit().unwrap();
            breaker.record(false);
            drop(probe);
            assert_eq!(breaker.state(), BreakerState::Open);
            assert!(breaker.permit().is_none());
        });
    }
}
