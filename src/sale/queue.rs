//! The waiting queue: joining (the pre-queue of a fair opening included), where a fan
//! stands, leaving, and admission.
//!
//! A waiting fan's standing is computed from the `seq` in their queue token and this
//! instance's cached admission cursor, with no store round trip. Only a fan the cursor may
//! have reached (seq <= cursor), or whose seq lies in a hole, is looked up in the store,
//! which gives back a place it lost when the token proves it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Sale;
use crate::domain::life::SaleState;
use crate::domain::queue::{QueueConfig, eta_seconds, place_in_line, poll_after_ms, position};
use crate::domain::{ShowId, from_millis};
use crate::error::{ApiError, Code};
use crate::store::postgres::fairness::PreJoin;
use crate::store::{JoinOutcome, Placement, Presence, QueueStore, StoreError};

/// The `seq` of a pre-queue token: its place is drawn at the opening.
pub const PRE_QUEUE_SEQ: i64 = 0;
/// How often an active user should check back (their session can end).
const ACTIVE_POLL_MS: u64 = 15_000;
/// Longest a pre-queued fan is told to wait before polling again.
const PRE_QUEUE_POLL_MAX_MS: u64 = 30_000;
/// Spreads the pre-queue's polls after the opening over this long.
const PRE_QUEUE_JITTER_MS: u64 = 2_000;
/// Most users one admission call admits; keeps each call short.
pub const ADMIT_BATCH: u32 = 1000;

#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    /// Joined before the show's fair opening: the place is drawn at `opens_at`.
    PreQueue,
    Waiting,
    Active,
    Expired,
}

/// Where a user stands in a show's queue.
#[derive(Serialize, ToSchema, Debug)]
pub struct Standing {
    pub status: QueueStatus,
    /// 1 for the next user to be admitted; 0 once admitted; null in the pre-queue. Never
    /// goes up while waiting.
    pub position: Option<u64>,
    /// Users ahead: `position - 1` while waiting; null in the pre-queue.
    pub ahead: Option<u64>,
    /// Seconds until admission at the measured rate; null until the rate is known.
    pub eta_seconds: Option<u64>,
    /// Wait this long before polling again.
    pub poll_after_ms: u64,
    /// When the active session ends (null unless active).
    pub active_until: Option<DateTime<Utc>>,
    /// A fresh queue token, when the place changed hands: after the draw, a pre-queue
    /// token's answer carries the token of the drawn place (with `seq` and `draw`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_token: Option<String>,
}

// The answer to a join.
#[derive(Serialize, ToSchema)]
pub struct Joined {
    /// Proof of place: a JWT whose claims carry `sub`, `show` and `seq`. Send it as the
    /// Bearer token of every queue, seat, hold and reservation call of this show.
    pub queue_token: String,
    /// The join sequence number of this place (1-based).
    pub seq: i64,
    #[serde(flatten)]
    pub standing: Standing,
    /// A new place (else the one the user had).
    #[serde(skip)]
    pub created: bool,
}

#[derive(Serialize, ToSchema)]
pub struct QueueStats {
    /// Users waiting to be admitted.
    pub waiting: u64,
    /// Users in the active set now.
    pub active: u64,
    pub joined_total: u64,
    pub admitted_total: u64,
    /// Recently measured admissions per second (0 while unknown).
    pub admit_rate_per_s: f64,
    /// Seats held now.
    pub held: u64,
    /// Seats sold.
    pub sold: u64,
    /// The store that answered: `redis`, or `postgres` while the deployment serves from the
    /// fallback.
    pub backend: &'static str,
    /// Where the sale is in its life (see the settings `on_sale_at`, `opens_at`, `paused`,
    /// `closed`, `sold_out` and `ends_at`).
    pub state: SaleState,
}

fn active(until_ms: i64) -> Standing {
    Standing {
        status: QueueStatus::Active,
        position: Some(0),
        ahead: Some(0),
        eta_seconds: Some(0),
        poll_after_ms: ACTIVE_POLL_MS,
        active_until: Some(from_millis(until_ms)),
        queue_token: None,
    }
}

fn expired() -> Standing {
    Standing {
        status: QueueStatus::Expired,
        position: Some(0),
        ahead: Some(0),
        eta_seconds: None,
        poll_after_ms: 0,
        active_until: None,
        queue_token: None,
    }
}

/// In the pre-queue: come back shortly after the opening (the draw takes a moment).
fn pre_queued(ms_to_opening: i64) -> Standing {
    let jitter = rand::random_range(0..PRE_QUEUE_JITTER_MS);
    Standing {
        status: QueueStatus::PreQueue,
        position: None,
        ahead: None,
        eta_seconds: None,
        poll_after_ms: (ms_to_opening.max(0) as u64 + 500 + jitter).min(PRE_QUEUE_POLL_MAX_MS),
        active_until: None,
        queue_token: None,
    }
}

impl Sale {
    /// Joins a show's queue (idempotent per user and show), or its pre-queue before a fair
    /// opening. `place`: the seq of the queue token the join came with, if one of this show
    /// (a place the store lost comes back first, so joining again finds it).
    pub async fn join(&self, show: ShowId, user: Uuid, place: Option<i64>) -> Result<Joined, ApiError> {
        let proof = place.filter(|seq| *seq != PRE_QUEUE_SEQ);
        // First: an ended show's store may be gone, and must not be asked for (nor reloaded).
        self.may_join(show, user, proof).await?;
        if let Some(seq) = proof {
            self.backend.presence_with_proof(show, user, seq).await?;
        }
        self.note_busy(show).await;
        if let Some(pre_queued) = self.pre_queue_join(show, user).await? {
            return Ok(pre_queued);
        }
        let place = match self.backend.join(show, user).await? {
            JoinOutcome::Closed => {
                return Err(ApiError::new(Code::QueueClosed, "this queue is not taking new users right now"));
            }
            JoinOutcome::Placed(place) => place,
        };
        if place.created {
            metrics::counter!("boxoffice_queue_joins_total").increment(1);
        }
        Ok(Joined {
            queue_token: self.tokens.issue_queue(user, show, place.seq).token,
            seq: place.seq,
            standing: self.placed(show, &place).await?,
            created: place.created,
        })
    }

    async fn placed(&self, show: ShowId, place: &Placement) -> Result<Standing, ApiError> {
        self.sync_holes(show, place.holes_total).await?;
        if let Some(until) = place.active_until_ms {
            return Ok(active(until));
        }
        let cursor = match place.cursor {
            Some(cursor) => {
                self.cursors.observe(show, cursor);
                cursor
            }
            None => self.cursor(show).await?,
        };
        Ok(self.waiting(show, place.seq, cursor))
    }

    /// A join of a show whose fair opening is ahead goes to the pre-queue; the first join at
    /// the opening closes the pre-queue before it takes a place behind it.
    async fn pre_queue_join(&self, show: ShowId, user: Uuid) -> Result<Option<Joined>, ApiError> {
        let Some(opens_at) = self.opening_ahead(show).await? else { return Ok(None) };
        match self.db.fairness().pre_join(show, user, self.backend.injected_now()).await? {
            PreJoin::PreQueued { created } => {
                let ms_to_opening = opens_at.timestamp_millis() - self.backend.now_ms();
                Ok(Some(Joined {
                    queue_token: self.tokens.issue_queue(user, show, PRE_QUEUE_SEQ).token,
                    seq: PRE_QUEUE_SEQ,
                    standing: pre_queued(ms_to_opening),
                    created,
                }))
            }
            // At the opening (or after another instance closed the pre-queue): closing is
            // idempotent, and it makes this instance learn the hole latecomers queue behind.
            PreJoin::Due | PreJoin::Open => match self.close_pre_queue(show).await? {
                true => Ok(None),
                // Never a place before the pre-queue's: they come first.
                false => Err(ApiError::unavailable("the queue is opening; try again in a moment")),
            },
            PreJoin::Drawn => {
                self.openings.mark_drawn(show);
                self.cursors.set_show_holes(show, self.backend.holes(show).await?);
                Ok(None)
            }
        }
    }

    /// The show's fair opening, while it isn't known to be drawn.
    async fn opening_ahead(&self, show: ShowId) -> Result<Option<DateTime<Utc>>, ApiError> {
        if self.openings.is_drawn(show) {
            return Ok(None);
        }
        Ok(self.queue_config(show).await?.and_then(|config| config.opens_at))
    }

    /// Where the holder of a queue token for `seq` stands now: from the cached cursor while
    /// it is behind them, else from the store (which gives back a place it lost when the
    /// token proves it). A pre-queue token answers the drawn place once the draw gave it.
    pub async fn standing(&self, show: ShowId, user: Uuid, seq: i64) -> Result<Standing, ApiError> {
        if seq == PRE_QUEUE_SEQ {
            return self.pre_queue_standing(show, user).await;
        }
        let cursor = self.cursor(show).await?;
        if position(seq, cursor, &self.cursors.holes(show)).is_some() {
            return Ok(self.waiting(show, seq, cursor));
        }
        let presence = self.backend.presence_with_proof(show, user, seq).await?;
        self.cursors.observe(show, presence.cursor);
        Ok(self.standing_of_presence(show, seq, &presence))
    }

    fn standing_of_presence(&self, show: ShowId, seq: i64, presence: &Presence) -> Standing {
        match presence.active_until_ms {
            Some(until) => active(until),
            None if presence.waiting => self.waiting(show, seq, presence.cursor),
            None => expired(),
        }
    }

    /// Where a pre-queue token's holder stands: before the opening the token is proof
    /// enough; after it, the draw's place (with a fresh token for it), or still the
    /// pre-queue while the draw runs, or expired (they left it). What this instance knows of
    /// the draw spares the pre-queued fans' polls a Postgres query each while it runs.
    async fn pre_queue_standing(&self, show: ShowId, user: Uuid) -> Result<Standing, ApiError> {
        let now = self.backend.now_ms();
        let opens_at = self.queue_config(show).await?.and_then(|config| config.opens_at);
        if let Some(opens_at) = opens_at
            && now < opens_at.timestamp_millis()
        {
            return Ok(pre_queued(opens_at.timestamp_millis() - now));
        }
        if let Some(seq) = self.backend.place_of(show, user).await? {
            let mut standing = Box::pin(self.standing(show, user, seq)).await?;
            standing.queue_token = Some(self.drawn_token(show, user, seq).await?);
            return Ok(standing);
        }
        let pre_queued_now = match (self.openings.is_drawn(show), self.openings.is_closed(show)) {
            (true, _) => false,
            (false, true) => true,
            (false, false) => self.db.fairness().in_pre_queue(show, user).await?,
        };
        Ok(if pre_queued_now { pre_queued(0) } else { expired() })
    }

    /// A waiting user's standing; a reinstated place (in a hole, or one the cursor passed)
    /// stands behind the places before its hole (see [`place_in_line`]).
    pub fn waiting(&self, show: ShowId, seq: i64, cursor: i64) -> Standing {
        let position = place_in_line(seq, cursor, &self.cursors.holes(show));
        let eta = eta_seconds(position, self.cursors.rate(show));
        Standing {
            status: QueueStatus::Waiting,
            position: Some(position),
            ahead: Some(position - 1),
            eta_seconds: eta,
            poll_after_ms: poll_after_ms(position, eta, rand::random()),
            active_until: None,
            queue_token: None,
        }
    }

    /// The place of `seq` while the cursor is behind it (None: the cursor reached it).
    pub fn position(&self, show: ShowId, seq: i64, cursor: i64) -> Option<u64> {
        position(seq, cursor, &self.cursors.holes(show))
    }

    /// Leaves the queue or the pre-queue, or gives the active slot back; false when the user
    /// was in none of them.
    pub async fn leave(&self, show: ShowId, user: Uuid, seq: i64) -> Result<bool, ApiError> {
        self.note_busy(show).await;
        let now = self.backend.injected_now();
        if seq == PRE_QUEUE_SEQ && self.db.fairness().leave_pre_queue(show, user, now).await? {
            return Ok(true);
        }
        if self.backend.leave(show, user).await? {
            return Ok(true);
        }
        if seq == PRE_QUEUE_SEQ && !self.openings.is_drawn(show) && self.db.fairness().in_pre_queue(show, user).await? {
            // Closed, but the fan's drawn place is not given yet.
            return Err(ApiError::unavailable("the pre-queue is being drawn; leave again in a moment"));
        }
        Ok(false)
    }

    /// Whether the user is in the show's active set (the first ask after admission claims
    /// the session).
    pub async fn is_active(&self, show: ShowId, user: Uuid) -> Result<bool, ApiError> {
        Ok(self.backend.presence(show, user).await?.active_until_ms.is_some())
    }

    /// The admission cursor of a show: this instance's cached value, or the store's when
    /// the cache is older than the serving backend allows.
    pub async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        if let Some(cursor) = self.cursors.get_fresh(show, self.backend.cursor_max_age()) {
            return Ok(cursor);
        }
        let cursor = self.backend.cursor(show).await?;
        self.cursors.observe(show, cursor);
        Ok(cursor)
    }

    /// A cursor heard from Redis' channel or read by a feed.
    pub fn observe_cursor(&self, show: ShowId, cursor: i64) {
        self.cursors.observe(show, cursor);
    }

    /// Wakes on every move of the show's cursor.
    pub fn watch_cursor(&self, show: ShowId) -> watch::Receiver<i64> {
        self.cursors.watch(show)
    }

    /// The shows whose cursors this instance's clients follow.
    pub fn watched_cursors(&self) -> Vec<ShowId> {
        self.cursors.watched()
    }

    /// Reloads the show's holes when the store covers another number of seqs with them than
    /// this instance knows (Redis opened a hole after a failover): positions skip them.
    pub(super) async fn sync_holes(&self, show: ShowId, store_total: Option<i64>) -> Result<(), StoreError> {
        if store_total.is_some_and(|total| total != self.cursors.hole_total(show)) {
            self.cursors.set_show_holes(show, self.backend.holes(show).await?);
        }
        Ok(())
    }

    /// One admission tick of a show: a fair opening that came is drawn, lapsed sessions
    /// end, and as many waiters as the rate and `max_active` allow are admitted.
    pub async fn admit(&self, show: ShowId) {
        if self.has_ended(show).await {
            return;
        }
        self.open_if_due(show).await;
        match self.backend.admit(show, ADMIT_BATCH).await {
            Ok(tick) => {
                self.live.ticked(show, tick.busy);
                self.cursors.observe(show, tick.cursor);
                if let Err(error) = self.sync_holes(show, tick.holes_total).await {
                    tracing::debug!(%error, %show, "cannot reload the show's holes");
                }
                metrics::counter!("boxoffice_admitted_total").increment(tick.admitted);
                metrics::counter!("boxoffice_sessions_expired_total").increment(tick.expired);
            }
            Err(error) => {
                self.live.unknown(show);
                tracing::debug!(%error, %show, "admission tick failed");
            }
        }
    }

    /// Live counters of a show's queue and seats.
    pub async fn stats(&self, show: ShowId) -> Result<QueueStats, ApiError> {
        let state = self.sale_state(show).await?;
        let (counts, seats) = tokio::try_join!(self.counts_of(show), self.availability_of(show))?;
        self.cursors.observe(show, counts.cursor);
        Ok(QueueStats {
            waiting: counts.waiting,
            active: counts.active,
            joined_total: counts.joined_total,
            admitted_total: counts.admitted_total,
            admit_rate_per_s: self.cursors.rate(show).unwrap_or(0.0),
            held: seats.held,
            sold: seats.sold,
            backend: self.backend.backend(),
            state,
        })
    }

    /// The show's settings, from this instance's cache (read from Postgres once for a show
    /// it hasn't seen); `None` for a show that doesn't exist.
    pub(super) async fn queue_config(&self, show: ShowId) -> Result<Option<QueueConfig>, StoreError> {
        if let Some(config) = self.queue_configs.get(show) {
            return Ok(Some(config));
        }
        self.read_settings(show).await
    }
}
