//! Queue rules: settings, positions, ETAs and how often a waiting client should poll.
//!
//! A user's place is their join sequence number `seq` (1-based). The admission cursor counts
//! users popped off the front, so `position = seq - cursor`: computed from two integers, with
//! no list scan. The cursor only grows, so a waiting user's position never goes up.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use utoipa::ToSchema;

/// A show's queue settings. Postgres holds them; Redis keeps the copy the scripts read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueConfig {
    /// Most users allowed in the active set at once.
    pub max_active: u32,
    /// Admission rate; may be fractional (0.5 = one user every two seconds).
    pub admit_per_second: f64,
    /// How long a claimed session lasts.
    pub session_ttl_s: u32,
    /// How long a seat hold lasts.
    pub hold_ttl_s: u32,
    pub max_seats_per_user: u32,
    /// Paused: nobody joins and nobody is admitted.
    pub paused: bool,
    /// How long an admitted user has to show up before the slot goes to the next waiter.
    pub claim_window_s: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_active: 500,
            admit_per_second: 25.0,
            session_ttl_s: 600,
            hold_ttl_s: 300,
            max_seats_per_user: 4,
            paused: false,
            claim_window_s: 60,
        }
    }
}

/// A partial update of [`QueueConfig`]: unset fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueConfigPatch {
    pub max_active: Option<u32>,
    pub admit_per_second: Option<f64>,
    pub session_ttl_s: Option<u32>,
    pub hold_ttl_s: Option<u32>,
    pub max_seats_per_user: Option<u32>,
    pub paused: Option<bool>,
    pub claim_window_s: Option<u32>,
}

/// Upper bounds that keep one show's scripts short and its numbers sane.
pub const MAX_ACTIVE_LIMIT: u32 = 1_000_000;
pub const MAX_ADMIT_PER_SECOND: f64 = 100_000.0;
pub const MAX_TTL_S: u32 = 24 * 3600;
pub const MAX_SEATS_PER_USER_LIMIT: u32 = 50;

impl QueueConfigPatch {
    /// The config with this patch applied, or what is wrong with it.
    pub fn apply(&self, base: &QueueConfig) -> Result<QueueConfig, String> {
        let merged = QueueConfig {
            max_active: self.max_active.unwrap_or(base.max_active),
            admit_per_second: self.admit_per_second.unwrap_or(base.admit_per_second),
            session_ttl_s: self.session_ttl_s.unwrap_or(base.session_ttl_s),
            hold_ttl_s: self.hold_ttl_s.unwrap_or(base.hold_ttl_s),
            max_seats_per_user: self.max_seats_per_user.unwrap_or(base.max_seats_per_user),
            paused: self.paused.unwrap_or(base.paused),
            claim_window_s: self.claim_window_s.unwrap_or(base.claim_window_s),
        };
        merged.validate()?;
        Ok(merged)
    }
}

impl QueueConfig {
    pub fn validate(&self) -> Result<(), String> {
        let ttl_ok = |v: u32| (1..=MAX_TTL_S).contains(&v);
        if !(1..=MAX_ACTIVE_LIMIT).contains(&self.max_active) {
            return Err(format!("max_active must be between 1 and {MAX_ACTIVE_LIMIT}"));
        }
        if !self.admit_per_second.is_finite() || !(0.0..=MAX_ADMIT_PER_SECOND).contains(&self.admit_per_second) {
            return Err(format!("admit_per_second must be between 0 and {MAX_ADMIT_PER_SECOND}"));
        }
        if !ttl_ok(self.session_ttl_s) || !ttl_ok(self.hold_ttl_s) || !ttl_ok(self.claim_window_s) {
            return Err(format!("session_ttl_s, hold_ttl_s and claim_window_s must be between 1 and {MAX_TTL_S}"));
        }
        if !(1..=MAX_SEATS_PER_USER_LIMIT).contains(&self.max_seats_per_user) {
            return Err(format!("max_seats_per_user must be between 1 and {MAX_SEATS_PER_USER_LIMIT}"));
        }
        Ok(())
    }
}

/// 1 for the next user to be admitted; `None` once the cursor has passed `seq`.
pub fn position(seq: i64, cursor: i64) -> Option<u64> {
    (seq > cursor).then(|| (seq - cursor) as u64)
}

/// Seconds until a user at `position` is admitted at `rate` users/s, rounded up.
pub fn eta_seconds(position: u64, rate_per_s: Option<f64>) -> Option<u64> {
    let rate = rate_per_s.filter(|r| *r > 0.0)?;
    Some((position as f64 / rate).ceil() as u64)
}

pub const MIN_POLL_MS: u64 = 1_000;
pub const MAX_POLL_MS: u64 = 30_000;

/// How long a waiting client should wait before polling again.
///
/// Users near the front poll every second; further back the interval grows with the
/// distance (and stays under a quarter of the ETA, so nobody oversleeps their turn), up to
/// 30 s. `jitter` in [0, 1) spreads it by ±20% so a million clients that joined in the same
/// second don't come back in lock-step.
pub fn poll_after_ms(position: u64, eta_s: Option<u64>, jitter: f64) -> u64 {
    let by_distance = MIN_POLL_MS.saturating_mul(1 + position / 50);
    let by_eta = eta_s.map_or(u64::MAX, |eta| eta.saturating_mul(1000) / 4);
    let base = by_distance.min(by_eta).clamp(MIN_POLL_MS, MAX_POLL_MS);
    let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    ((base as f64 * spread) as u64).max(MIN_POLL_MS / 2)
}

/// The admission rate measured from cursor observations over a sliding window.
///
/// It is unknown (`None`) until the cursor has been seen to move over at least
/// `MIN_SPAN`; observations older than `WINDOW` are dropped, so the rate follows changes
/// in the configured rate or in how fast slots free up.
#[derive(Debug, Default)]
pub struct AdmissionRate {
    samples: VecDeque<(Instant, i64)>,
}

impl AdmissionRate {
    pub const WINDOW: Duration = Duration::from_secs(30);
    pub const MIN_SPAN: Duration = Duration::from_secs(2);
    const MAX_SAMPLES: usize = 64;
    const SAMPLE_EVERY: Duration = Duration::from_millis(250);

    pub fn observe(&mut self, at: Instant, cursor: i64) {
        while self.samples.front().is_some_and(|(t, _)| at.duration_since(*t) > Self::WINDOW) {
            self.samples.pop_front();
        }
        let recent = self.samples.back().is_some_and(|(t, _)| at.duration_since(*t) < Self::SAMPLE_EVERY);
        if recent && self.samples.len() > 1 {
            self.samples.pop_back();
        }
        if self.samples.len() == Self::MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((at, cursor));
    }

    /// Users per second, or `None` while it isn't known yet.
    pub fn per_second(&self, now: Instant) -> Option<f64> {
        let (first_at, first) = *self.samples.front()?;
        let (_, last) = *self.samples.back()?;
        let span = now.duration_since(first_at);
        if span < Self::MIN_SPAN || now.duration_since(first_at) > Self::WINDOW * 2 {
            return None;
        }
        let rate = (last - first) as f64 / span.as_secs_f64();
        (rate > 0.0).then_some(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_user_to_be_admitted_is_at_position_one() {
        assert_eq!(position(11, 10), Some(1));
        assert_eq!(position(10, 10), None);
        assert_eq!(position(1, 0), Some(1));
    }

    #[test]
    fn a_waiting_users_position_never_goes_up_as_the_cursor_moves() {
        let seq = 1_000;
        let mut last = u64::MAX;
        for cursor in 0..seq {
            let p = position(seq, cursor).unwrap();
            assert!(p < last);
            last = p;
        }
    }

    #[test]
    fn eta_is_unknown_without_a_rate_and_rounds_up() {
        assert_eq!(eta_seconds(10, None), None);
        assert_eq!(eta_seconds(10, Some(0.0)), None);
        assert_eq!(eta_seconds(10, Some(3.0)), Some(4));
    }

    #[test]
    fn polling_slows_down_with_distance_and_stays_bounded() {
        let near = poll_after_ms(1, None, 0.5);
        let mid = poll_after_ms(500, None, 0.5);
        let far = poll_after_ms(1_000_000, None, 0.5);
        assert_eq!(near, MIN_POLL_MS);
        assert!(mid > near && far >= mid);
        assert_eq!(far, MAX_POLL_MS);
    }

    #[test]
    fn polling_never_oversleeps_a_close_eta() {
        assert_eq!(poll_after_ms(100_000, Some(8), 0.5), 2_000);
    }

    #[test]
    fn jitter_spreads_polls_by_twenty_percent_either_way() {
        let low = poll_after_ms(1_000, None, 0.0);
        let high = poll_after_ms(1_000, None, 0.999);
        assert_eq!(low, 16_800);
        assert!(high > 25_000 && high <= 25_200, "{high}");
    }

    #[test]
    fn config_patches_keep_unset_fields_and_refuse_nonsense() {
        let base = QueueConfig::default();
        let patched = QueueConfigPatch { max_active: Some(7), ..Default::default() }.apply(&base).unwrap();
        assert_eq!(patched, QueueConfig { max_active: 7, ..base.clone() });
        let zero = QueueConfigPatch { max_active: Some(0), ..Default::default() };
        assert!(zero.apply(&base).unwrap_err().contains("max_active"));
        let nan = QueueConfigPatch { admit_per_second: Some(f64::NAN), ..Default::default() };
        assert!(nan.apply(&base).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_admission_rate_is_unknown_until_the_cursor_has_moved_for_two_seconds() {
        let mut rate = AdmissionRate::default();
        rate.observe(Instant::now(), 0);
        tokio::time::advance(Duration::from_secs(1)).await;
        rate.observe(Instant::now(), 10);
        assert_eq!(rate.per_second(Instant::now()), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        rate.observe(Instant::now(), 20);
        assert_eq!(rate.per_second(Instant::now()), Some(10.0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_admission_rate_follows_a_change_within_the_window() {
        let mut rate = AdmissionRate::default();
        let mut cursor = 0;
        for _ in 0..40 {
            cursor += 10;
            rate.observe(Instant::now(), cursor);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert!((rate.per_second(Instant::now()).unwrap() - 10.0).abs() < 0.5);
        for _ in 0..40 {
            cursor += 2;
            rate.observe(Instant::now(), cursor);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert!((rate.per_second(Instant::now()).unwrap() - 2.0).abs() < 0.2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_cursor_has_no_rate() {
        let mut rate = AdmissionRate::default();
        for _ in 0..10 {
            rate.observe(Instant::now(), 5);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(rate.per_second(Instant::now()), None);
    }
}
