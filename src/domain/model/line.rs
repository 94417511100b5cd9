//! The waiting line of the model: places, the admission cursor and the token bucket.

use std::collections::BTreeMap;

use super::{Fan, Standing, ms};
use crate::domain::queue::QueueConfig;
use crate::domain::queue::{bucket_full, refill};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Waiting { seq: i64 },
    Active { seq: i64, until_ms: i64, claimed: bool },
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Line {
    last_seq: i64,
    /// The last seq admission reached.
    cursor: i64,
    places: BTreeMap<Fan, Place>,
    /// Who was given each seq the cursor hasn't reached (they may have left since); `None`
    /// for a seq kept for a pre-queue not drawn yet.
    listed: BTreeMap<i64, Option<Fan>>,
    bucket: Option<Bucket>,
    admitted_total: u64,
}

impl Line {
    /// The fan's seq and whether it is new, or `None` when a new place is needed and the
    /// queue is paused. A session that ran out must have been ended first.
    pub fn join(&mut self, fan: Fan, now: i64, config: &QueueConfig) -> Option<(i64, bool)> {
        match self.places.get(&fan) {
            Some(Place::Waiting { seq }) => return Some((*seq, false)),
            Some(Place::Active { seq, .. }) => {
                let seq = *seq;
                self.claim(fan, now, config);
                return Some((seq, false));
            }
            None if config.paused => return None,
            None => {}
        }
        self.last_seq += 1;
        self.places.insert(fan, Place::Waiting { seq: self.last_seq });
        self.listed.insert(self.last_seq, Some(fan));
        Some((self.last_seq, true))
    }

    /// Keeps the next `n` seqs for a pre-queue's draw.
    pub fn keep_for_draw(&mut self, n: usize) {
        for _ in 0..n {
            self.last_seq += 1;
            self.listed.insert(self.last_seq, None);
        }
    }

    /// The drawn fans take the seqs kept for them.
    pub fn place_drawn(&mut self, drawn: &[(i64, Fan)]) {
        for (seq, fan) in drawn {
            self.places.insert(*fan, Place::Waiting { seq: *seq });
            self.listed.insert(*seq, Some(*fan));
        }
    }

    /// The seq of the fan's place, if they have one.
    pub fn seq_of(&self, fan: Fan) -> Option<i64> {
        self.places.get(&fan).map(|place| match place {
            Place::Waiting { seq } | Place::Active { seq, .. } => *seq,
        })
    }

    /// What the holder of a token for `seq` is told: a place admission hasn't reached is
    /// told its position (from the token alone); past it, the fan's session or its end.
    pub fn standing(&self, fan: Fan, seq: i64, now: i64) -> Standing {
        if let Some(position) = self.position(seq) {
            return Standing::Waiting { position };
        }
        match self.places.get(&fan) {
            Some(Place::Active { until_ms, .. }) if *until_ms > now => Standing::Active { until_ms: *until_ms },
            _ => Standing::Expired,
        }
    }

    /// 1 for the next place admission reaches, counting every place listed before `seq`;
    /// `None` once admission reached it.
    pub fn position(&self, seq: i64) -> Option<u64> {
        (seq > self.cursor).then(|| self.listed.range(..seq).count() as u64 + 1)
    }

    /// The first request after admission starts the session.
    pub fn claim(&mut self, fan: Fan, now: i64, config: &QueueConfig) {
        if let Some(Place::Active { until_ms, claimed, .. }) = self.places.get_mut(&fan)
            && *until_ms > now
            && !*claimed
        {
            *until_ms = now + ms(config.session_ttl_s);
            *claimed = true;
        }
    }

    pub fn has_place(&self, fan: Fan) -> bool {
        self.places.contains_key(&fan)
    }

    pub fn is_active(&self, fan: Fan, now: i64) -> bool {
        matches!(self.places.get(&fan), Some(Place::Active { until_ms, .. }) if *until_ms > now)
    }

    /// Admitted, and the session (or the claim window) ran out.
    pub fn session_over(&self, fan: Fan, now: i64) -> bool {
        matches!(self.places.get(&fan), Some(Place::Active { until_ms, .. }) if *until_ms <= now)
    }

    pub fn sessions_over(&self, now: i64) -> Vec<Fan> {
        self.places.keys().copied().filter(|fan| self.session_over(*fan, now)).collect()
    }

    /// The place goes; its seq stays listed until admission passes over it.
    pub fn remove(&mut self, fan: Fan) {
        self.places.remove(&fan);
    }

    /// The deployment moved: the bucket starts afresh.
    pub fn moved(&mut self) {
        self.bucket = None;
    }

    /// One admission tick (sessions that ran out already ended).
    pub fn admit(&mut self, now: i64, config: &QueueConfig) {
        let rate = config.admit_per_second;
        let bucket = self.bucket;
        let mut tokens = refill(bucket.map(|b| b.tokens), bucket.map_or(0, |b| now - b.at_ms), rate);
        if !config.paused {
            let room = i64::from(config.max_active) - self.active_entries();
            let admitted = self.admit_up_to((tokens.floor() as i64).min(room), now, config);
            tokens -= admitted as f64;
        }
        let kept = !self.listed.is_empty() || !bucket_full(tokens, rate);
        self.bucket = kept.then_some(Bucket { tokens, at_ms: now });
    }

    fn admit_up_to(&mut self, want: i64, now: i64, config: &QueueConfig) -> u64 {
        let mut admitted = 0;
        while (admitted as i64) < want {
            let Some((seq, fan)) = self.listed.pop_first() else { break };
            self.cursor = seq;
            if let Some(fan) = fan
                && self.places.get(&fan) == Some(&Place::Waiting { seq })
            {
                let until_ms = now + ms(config.claim_window_s);
                self.places.insert(fan, Place::Active { seq, until_ms, claimed: false });
                admitted += 1;
            }
        }
        self.admitted_total += admitted;
        admitted
    }

    /// Admitted fans whose session hasn't been ended yet (run out or not).
    fn active_entries(&self) -> i64 {
        self.places.values().filter(|place| matches!(place, Place::Active { .. })).count() as i64
    }

    pub fn waiting(&self) -> u64 {
        self.places.values().filter(|place| matches!(place, Place::Waiting { .. })).count() as u64
    }

    pub fn active(&self, now: i64) -> u64 {
        self.places.keys().filter(|fan| self.is_active(**fan, now)).count() as u64
    }

    pub fn joined_total(&self) -> u64 {
        self.last_seq as u64
    }

    pub fn admitted_total(&self) -> u64 {
        self.admitted_total
    }
}
