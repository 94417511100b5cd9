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
    /// Proof of work a join must carry: leading zero bits of its hash (0: none).
    #[serde(default)]
    pub pow_bits: u32,
    /// When the queue opens: who joins before it waits in the pre-queue and is drawn into
    /// the first places at this time (see `domain::fairness`). Null: first come, first served.
    #[serde(default)]
    pub opens_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Lanes one show's queue is split over, for an on-sale bigger than one Redis master can
    /// take (docs/capacity.md, "One show past one master"): joins spread over them, admission
    /// keeps one first-come order. At most one lane per master is used. Set before the first
    /// join; a show rebuilt from Postgres runs on one lane.
    #[serde(default = "one_lane")]
    pub lanes: u32,
    /// When joining opens (the queue, or a fair opening's pre-queue); until then the sale is
    /// scheduled. Null: open since the show was made.
    #[serde(default)]
    pub on_sale_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Closed: nobody new joins; those in line keep their places and are admitted.
    #[serde(default)]
    pub closed: bool,
    /// Sold out: every seat sold (set by the sale itself), or the rest held back.
    #[serde(default)]
    pub sold_out: bool,
    /// When the sale ends for good: the show's start plus a grace unless moved (set it to now
    /// to end the sale now). An ended show's queue is let go of; its tokens are refused.
    #[serde(default)]
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn one_lane() -> u32 {
    1
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
            pow_bits: 0,
            opens_at: None,
            lanes: 1,
            on_sale_at: None,
            closed: false,
            sold_out: false,
            ends_at: None,
        }
    }
}

/// A partial update of [`QueueConfig`]: unset fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueConfigPatch {
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_active: Option<u32>,
    #[schema(minimum = 0, maximum = 100000)]
    pub admit_per_second: Option<f64>,
    #[schema(minimum = 1, maximum = 86400)]
    pub session_ttl_s: Option<u32>,
    #[schema(minimum = 1, maximum = 86400)]
    pub hold_ttl_s: Option<u32>,
    #[schema(minimum = 1, maximum = 50)]
    pub max_seats_per_user: Option<u32>,
    pub paused: Option<bool>,
    #[schema(minimum = 1, maximum = 86400)]
    pub claim_window_s: Option<u32>,
    #[schema(minimum = 0, maximum = 32)]
    pub pow_bits: Option<u32>,
    /// Sets (or, while it is still ahead, moves) the opening; it can't be cleared.
    pub opens_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Only before the show's first join.
    #[schema(minimum = 1, maximum = 16)]
    pub lanes: Option<u32>,
    pub on_sale_at: Option<chrono::DateTime<chrono::Utc>>,
    pub closed: Option<bool>,
    pub sold_out: Option<bool>,
    /// Moves the end of the sale; a time already past ends it now, for good.
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Upper bounds that keep one show's scripts short and its numbers sane.
pub const MAX_ACTIVE_LIMIT: u32 = 1_000_000;
pub const MAX_ADMIT_PER_SECOND: f64 = 100_000.0;
pub const MAX_TTL_S: u32 = 24 * 3600;
pub const MAX_SEATS_PER_USER_LIMIT: u32 = 50;
pub const MAX_LANES: u32 = 16;

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
            pow_bits: self.pow_bits.unwrap_or(base.pow_bits),
            opens_at: self.opens_at.or(base.opens_at),
            lanes: self.lanes.unwrap_or(base.lanes),
            on_sale_at: self.on_sale_at.or(base.on_sale_at),
            closed: self.closed.unwrap_or(base.closed),
            sold_out: self.sold_out.unwrap_or(base.sold_out),
            ends_at: self.ends_at.or(base.ends_at),
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
        if self.pow_bits > super::pow::MAX_BITS {
            return Err(format!("pow_bits must be between 0 and {}", super::pow::MAX_BITS));
        }
        if !(1..=MAX_LANES).contains(&self.lanes) {
            return Err(format!("lanes must be between 1 and {MAX_LANES}"));
        }
        Ok(())
    }
}

/// A range of seqs `[lo, hi)` that no place on the waiting list has.
///
/// When the deployment moves to Postgres, Redis may have handed out seqs that Postgres never
/// heard of (joins still on their way through the write-behind). Postgres then leaves room
/// for them: new places start after a hole, so everyone who joined before the switch stays
/// ahead. A token whose seq lies in a hole is reinstated when presented. Positions don't
/// count holes, so nobody sees millions of phantom users ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    pub lo: i64,
    pub hi: i64,
}

/// How many seqs a hole leaves free: more than Redis can have handed out unrecorded (joins
/// are written behind within a second; this covers minutes of an on-sale's peak).
pub const HOLE_SIZE: i64 = 1 << 24;

/// Which store takes a show's seqs over from another that may have handed out some unrecorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taker {
    /// A promoted replica, whose seq may have lost its last increments (join.lua).
    Redis,
    /// Postgres at a switch, which may not have heard of Redis' last joins yet.
    Postgres,
}

/// The last seq a taker counts as handed out, so that its new places start after a hole of at
/// least [`HOLE_SIZE`] after `last` (the highest seq it knows).
///
/// Redis and Postgres can take over from the same `last` (a failover, then a switch before the
/// new master's joins were written behind): each ends its hole on its own multiples of
/// `HOLE_SIZE` (Redis even, Postgres odd), so their new places never share a seq.
pub fn last_after_hole(last: i64, taker: Taker) -> i64 {
    let mut blocks = (last + HOLE_SIZE + HOLE_SIZE - 1) / HOLE_SIZE;
    let wanted_parity = match taker {
        Taker::Redis => 0,
        Taker::Postgres => 1,
    };
    if blocks % 2 != wanted_parity {
        blocks += 1;
    }
    blocks * HOLE_SIZE
}

impl Hole {
    pub fn contains(&self, seq: i64) -> bool {
        (self.lo..self.hi).contains(&seq)
    }

    /// How many of the seqs strictly between `after` and `before` it covers.
    fn covers_between(&self, after: i64, before: i64) -> i64 {
        (self.hi.min(before) - self.lo.max(after + 1)).max(0)
    }
}

pub fn in_hole(seq: i64, holes: &[Hole]) -> bool {
    holes.iter().any(|h| h.contains(seq))
}

/// The seqs after the cursor, up to `last_seq`, that are neither in a hole nor among `seqs`
/// (ascending), as holes: Redis' waiting list must have an entry for every seq it doesn't
/// skip, so a place no store has (never recorded) is skipped like a hole.
pub fn gaps(seqs: &[i64], cursor: i64, last_seq: i64, holes: &[Hole]) -> Vec<Hole> {
    let next_after = |seq: i64| {
        let mut next = seq + 1;
        while let Some(hole) = holes.iter().find(|h| h.contains(next)) {
            next = hole.hi;
        }
        next
    };
    let mut found = Vec::new();
    let mut expected = next_after(cursor);
    for &seq in seqs.iter().chain(std::iter::once(&(last_seq + 1))) {
        while expected < seq {
            let end = holes.iter().map(|h| h.lo).filter(|lo| (expected + 1..seq).contains(lo)).min().unwrap_or(seq);
            found.push(Hole { lo: expected, hi: end });
            expected = next_after(end - 1);
        }
        expected = expected.max(next_after(seq));
    }
    found
}

/// 1 for the next user to be admitted: the seqs after the cursor and before this one that
/// are not in a hole, plus one. `None` once the cursor has passed `seq`, or for a seq in a
/// hole: only the store can say where such a place stands.
pub fn position(seq: i64, cursor: i64, holes: &[Hole]) -> Option<u64> {
    if seq <= cursor || in_hole(seq, holes) {
        return None;
    }
    Some(places_between(cursor, seq, holes) + 1)
}

/// Where a waiting place stands, reinstated places included: for a seq in a hole, the places
/// between the cursor and the hole plus one (admission takes those first). Other reinstated
/// places ahead of it are not counted: only the store knows them.
pub fn place_in_line(seq: i64, cursor: i64, holes: &[Hole]) -> u64 {
    if let Some(position) = position(seq, cursor, holes) {
        return position;
    }
    match holes.iter().find(|h| h.contains(seq)) {
        Some(hole) if hole.lo > cursor => places_between(cursor, hole.lo, holes) + 1,
        _ => 1,
    }
}

/// The seqs strictly between `after` and `before` that are not in a hole.
fn places_between(after: i64, before: i64, holes: &[Hole]) -> u64 {
    let skipped: i64 = holes.iter().map(|h| h.covers_between(after, before)).sum();
    (before - after - 1 - skipped).max(0) as u64
}

/// Seconds until a user at `position` is admitted at `rate` users/s, rounded up.
pub fn eta_seconds(position: u64, rate_per_s: Option<f64>) -> Option<u64> {
    let rate = rate_per_s.filter(|r| *r > 0.0)?;
    Some((position as f64 / rate).ceil() as u64)
}

/// How much of a late admission tick's wait still counts: a tick later than this is an
/// outage, not a busy moment, and doesn't admit its whole backlog at once.
pub const LATE_TICK_CREDIT_MS: i64 = 1000;

/// What the admission bucket holds: one tick's worth (the default tick), so no second
/// admits more than the rate, one tick's share and one user.
pub const BUCKET_MS: i64 = 100;

/// The admission token bucket after `elapsed_ms` at `rate` users/s. It holds [`BUCKET_MS`]'
/// worth (at least one user; nothing at a rate of 0), and a new bucket starts full.
/// A tick that comes late (a busy machine) keeps what it earned while waiting, up to
/// [`LATE_TICK_CREDIT_MS`], plus the fraction of a user the last tick left, so the rate
/// admitted is the rate configured however the ticks fall. A bucket the last tick left full
/// (nobody to admit, or no room) has no lateness to make up: it holds what a new one does,
/// so whether a store kept or dropped it changes nothing (Redis drops it once nobody waits,
/// and a quiet show's ticks write nothing). Redis' admission script computes the same.
pub fn refill(tokens: Option<f64>, elapsed_ms: i64, rate: f64) -> f64 {
    if rate <= 0.0 {
        return 0.0;
    }
    let burst = (rate * BUCKET_MS as f64 / 1000.0).max(1.0);
    let tokens = tokens.unwrap_or(burst);
    if tokens >= burst {
        return burst;
    }
    let earned = elapsed_ms.max(0) as f64 * rate / 1000.0;
    let late_credit = 1.0 + elapsed_ms.clamp(0, LATE_TICK_CREDIT_MS) as f64 * rate / 1000.0;
    (tokens + earned).min(burst.max(late_credit))
}

/// Whether a bucket holds all it can (at a rate of 0, nothing is all): a store may drop it
/// once nobody waits, since a new one holds the same (see [`refill`]).
pub fn bucket_full(tokens: f64, rate: f64) -> bool {
    rate <= 0.0 || tokens >= (rate * BUCKET_MS as f64 / 1000.0).max(1.0)
}

/// A user's live place in a show, as a join finds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LivePlace {
    Waiting { seq: i64 },
    Admitted { seq: i64, until_ms: i64, claimed: bool },
}

/// What joining does with the place a user already has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JoinStep {
    /// Still waiting: the same place.
    Keep { seq: i64 },
    /// Active: the same place; `claim` when this is the user's first request since admission.
    KeepActive { seq: i64, until_ms: i64, claim: bool },
    /// A new place at the back; `lapsed` is an admitted place whose session ran out.
    New { lapsed: Option<i64> },
    /// No place, and the queue takes nobody now.
    Closed { lapsed: Option<i64> },
}

/// Joining is idempotent: a user with a live place keeps it. `session_ms` is how long a
/// claimed session lasts from now.
pub fn join_step(place: Option<LivePlace>, now_ms: i64, session_ms: i64, paused: bool) -> JoinStep {
    let lapsed = match place {
        Some(LivePlace::Waiting { seq }) => return JoinStep::Keep { seq },
        Some(LivePlace::Admitted { seq, until_ms, claimed }) if until_ms > now_ms => {
            let until_ms = if claimed { until_ms } else { now_ms + session_ms };
            return JoinStep::KeepActive { seq, until_ms, claim: !claimed };
        }
        Some(LivePlace::Admitted { seq, .. }) => Some(seq),
        None => None,
    };
    if paused { JoinStep::Closed { lapsed } } else { JoinStep::New { lapsed } }
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
        assert_eq!(position(11, 10, &[]), Some(1));
        assert_eq!(position(10, 10, &[]), None);
        assert_eq!(position(1, 0, &[]), Some(1));
    }

    #[test]
    fn a_waiting_users_position_never_goes_up_as_the_cursor_moves() {
        let seq = 1_000;
        let mut last = u64::MAX;
        for cursor in 0..seq {
            let p = position(seq, cursor, &[]).unwrap();
            assert!(p < last);
            last = p;
        }
    }

    #[test]
    fn a_bucket_refills_at_the_rate_up_to_a_tenth_of_a_second_and_starts_full() {
        assert_eq!(refill(None, 0, 50.0), 5.0);
        assert_eq!(refill(Some(0.0), 40, 50.0), 2.0);
        assert_eq!(refill(Some(4.5), 100, 50.0), 6.0, "ticks on time earn no more than a tick's worth and a user");
        assert_eq!(refill(None, 0, 0.5), 1.0, "at least one user at a time");
        assert_eq!(refill(None, 0, 0.0), 0.0, "a rate of 0 admits nobody");
        assert_eq!(refill(Some(3.0), 10_000, 0.0), 0.0);
    }

    #[test]
    fn a_late_tick_keeps_what_it_earned_while_waiting_up_to_a_second() {
        assert_eq!(refill(Some(0.5), 600, 5.0), 3.5, "not cut back to the one user the bucket holds");
        assert_eq!(refill(Some(0.5), 10_000, 20.0), 21.0, "an outage earns a second's worth, not ten");
    }

    #[test]
    fn a_bucket_left_full_holds_what_a_new_one_does_however_long_it_waited() {
        assert_eq!(refill(Some(6.0), 100, 50.0), refill(None, 0, 50.0));
        assert_eq!(refill(Some(4.0), 10_000, 20.0), refill(None, 0, 20.0));
        assert_eq!(refill(Some(1.0), 5_000, 1.0), 1.0, "kept or dropped, the same after a long wait");
    }

    #[test]
    fn a_bucket_is_full_at_its_burst_and_always_at_a_rate_of_zero() {
        assert!(bucket_full(5.0, 50.0) && !bucket_full(4.9, 50.0));
        assert!(bucket_full(1.0, 1.0) && !bucket_full(0.5, 1.0));
        assert!(bucket_full(0.0, 0.0), "at a rate of 0 a new bucket holds the same: nothing");
    }

    /// Admissions over a minute of ticks that come every 100 to 400 ms (a busy machine),
    /// against the configured rate.
    fn admitted_with_irregular_ticks(rate: f64) -> f64 {
        let (mut tokens, mut admitted, mut seed) = (None, 0.0, 12345_u64);
        let mut elapsed_total = 0;
        while elapsed_total < 60_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let elapsed = 100 + (seed >> 33) as i64 % 300;
            elapsed_total += elapsed;
            let now = refill(tokens, elapsed, rate);
            admitted += now.floor();
            tokens = Some(now - now.floor());
        }
        admitted / (elapsed_total as f64 / 1000.0)
    }

    #[test]
    fn late_ticks_admit_the_configured_rate() {
        for rate in [1.0, 5.0, 25.0, 200.0] {
            let got = admitted_with_irregular_ticks(rate);
            assert!((got - rate).abs() <= rate * 0.05, "{rate}/s configured, {got:.2}/s admitted");
        }
    }

    #[test]
    fn joining_keeps_a_live_place_and_replaces_a_lapsed_one() {
        let (now, session) = (1_000_000, 600_000);
        assert_eq!(join_step(Some(LivePlace::Waiting { seq: 4 }), now, session, true), JoinStep::Keep { seq: 4 });
        let unclaimed = LivePlace::Admitted { seq: 2, until_ms: now + 5, claimed: false };
        assert_eq!(
            join_step(Some(unclaimed), now, session, false),
            JoinStep::KeepActive { seq: 2, until_ms: now + session, claim: true }
        );
        let claimed = LivePlace::Admitted { seq: 2, until_ms: now + 5, claimed: true };
        assert_eq!(
            join_step(Some(claimed), now, session, false),
            JoinStep::KeepActive { seq: 2, until_ms: now + 5, claim: false }
        );
        let lapsed = LivePlace::Admitted { seq: 2, until_ms: now, claimed: true };
        assert_eq!(join_step(Some(lapsed), now, session, false), JoinStep::New { lapsed: Some(2) });
        assert_eq!(join_step(Some(lapsed), now, session, true), JoinStep::Closed { lapsed: Some(2) });
        assert_eq!(join_step(None, now, session, false), JoinStep::New { lapsed: None });
    }

    #[test]
    fn redis_and_postgres_fencing_from_the_same_seq_start_a_hole_size_apart_at_least() {
        for last in [0, 1, 2, HOLE_SIZE - 1, HOLE_SIZE, HOLE_SIZE + 1, 5 * HOLE_SIZE + 7] {
            let (redis, postgres) = (last_after_hole(last, Taker::Redis), last_after_hole(last, Taker::Postgres));
            assert!(redis >= last + HOLE_SIZE && postgres >= last + HOLE_SIZE, "{last}: a whole hole after it");
            assert!((redis - postgres).abs() >= HOLE_SIZE, "{last}: {redis} and {postgres} overlap");
        }
        assert_eq!(last_after_hole(0, Taker::Postgres), HOLE_SIZE);
        assert_eq!(last_after_hole(2, Taker::Redis), 2 * HOLE_SIZE);
        assert_eq!(last_after_hole(2, Taker::Postgres), 3 * HOLE_SIZE);
    }

    #[test]
    fn a_hole_after_a_hole_moves_on() {
        let redis = last_after_hole(2, Taker::Redis);
        assert_eq!(last_after_hole(redis, Taker::Redis), 4 * HOLE_SIZE);
        assert_eq!(last_after_hole(redis + 10, Taker::Postgres), 5 * HOLE_SIZE);
    }

    #[test]
    fn a_reinstated_place_in_a_hole_stands_behind_the_places_before_the_hole() {
        let holes = [Hole { lo: 3, hi: 3 + HOLE_SIZE }];
        assert_eq!(place_in_line(10, 0, &holes), 3, "seqs 1 and 2 go first");
        assert_eq!(place_in_line(10, 2, &holes), 1, "the cursor reached the hole: next in line");
        assert_eq!(place_in_line(5, 7, &[]), 1, "a place the cursor passed is next in line");
        assert_eq!(place_in_line(3 + HOLE_SIZE, 0, &holes), 3, "a place after the hole as position says");
        let two = [Hole { lo: 2, hi: 4 }, Hole { lo: 6, hi: 100 }];
        assert_eq!(place_in_line(50, 0, &two), 4, "seqs 1, 4 and 5: the earlier hole skipped");
    }

    #[test]
    fn holes_are_not_counted_as_users_ahead() {
        let holes = [Hole { lo: 11, hi: 11 + HOLE_SIZE }];
        let first_after = 11 + HOLE_SIZE;
        assert_eq!(position(first_after, 5, &holes), Some(6), "seqs 6..=10, then this one");
        assert_eq!(position(first_after, 10, &holes), Some(1));
        assert_eq!(position(first_after + 3, 20, &holes), Some(4), "a cursor inside the hole");
        assert_eq!(position(12, 5, &holes), None, "a seq in a hole is for the store to place");
    }

    #[test]
    fn seqs_no_store_has_become_holes_and_known_holes_are_not_gaps() {
        let holes = [Hole { lo: 5, hi: 10 }];
        assert_eq!(gaps(&[2, 3, 4, 10, 11], 1, 11, &holes), vec![]);
        assert_eq!(
            gaps(&[3, 10], 1, 12, &holes),
            vec![Hole { lo: 2, hi: 3 }, Hole { lo: 4, hi: 5 }, Hole { lo: 11, hi: 13 }]
        );
        assert_eq!(gaps(&[], 0, 0, &[]), vec![]);
    }

    #[test]
    fn adjacent_holes_are_skipped_together_and_positions_still_only_go_down() {
        let holes = [Hole { lo: 3, hi: 10 }, Hole { lo: 10, hi: 20 }];
        assert_eq!(position(21, 0, &holes), Some(4), "seqs 1, 2, 20, then 21");
        let mut last = u64::MAX;
        for cursor in 0..21 {
            let p = position(21, cursor, &holes).unwrap();
            assert!(p <= last, "cursor {cursor}: {p} after {last}");
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

    #[test]
    fn a_show_takes_one_to_sixteen_lanes() {
        let base = QueueConfig::default();
        let lanes = |n| QueueConfigPatch { lanes: Some(n), ..Default::default() };
        assert_eq!(lanes(3).apply(&base).unwrap().lanes, 3);
        assert!(lanes(0).apply(&base).unwrap_err().contains("lanes"));
        assert!(lanes(17).apply(&base).unwrap_err().contains("lanes"));
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
