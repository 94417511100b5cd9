//! A fair opening (see `domain::fairness`): a show may open at a set time. Its seed is drawn
//! and its commitment published when `opens_at` is set; at the opening the pre-queue is
//! closed (its users' seqs are kept ahead of everyone who joins later) and drawn into those
//! seqs in HMAC order; then the seed and every drawn place are published. Every instance's
//! admission ticker looks; a lease in Postgres lets one instance draw, and another take
//! over if it dies mid-way (each step is idempotent).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Sale;
use crate::cache::DrawnSeqs;
use crate::domain::ShowId;
use crate::domain::fairness::{self, ALGORITHM};
use crate::domain::queue::QueueConfig;
use crate::error::{ApiError, Code};
use crate::store::{QueueStore, StoreError};

/// How long one instance may take to draw before another takes over.
const DRAW_LEASE: Duration = Duration::from_secs(30);
/// Most entries one page of the published draw gives.
pub const MAX_ENTRIES: i64 = 1000;

// A show's fair opening as published.
#[derive(Serialize, ToSchema)]
pub struct Fairness {
    /// When the queue opens; null without a fair opening.
    pub opens_at: Option<DateTime<Utc>>,
    /// Hex SHA-256 of the seed, published as soon as the opening is set.
    pub commitment: Option<String>,
    /// The hex seed, once the draw is done.
    pub seed: Option<String>,
    /// How many were drawn, once the draw is done.
    pub pre_queue_size: Option<i64>,
    /// `hmac-sha256-v1`: places in ascending HMAC-SHA256(seed, user id as 36 lowercase characters).
    pub algorithm: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct DrawEntry {
    pub seq: i64,
    /// Hex SHA-256 of the user id (36 lowercase characters).
    pub user_hash: String,
    /// Hex HMAC-SHA256(seed, user id): ascending with `seq`.
    pub hmac: String,
}

#[derive(Serialize, ToSchema)]
pub struct DrawEntries {
    pub entries: Vec<DrawEntry>,
    /// Pass as `after_seq` for the next page; null on the last.
    pub next_after_seq: Option<i64>,
}

impl Sale {
    /// A new opening is set before anyone joins, in the future, and stays put once it came;
    /// its seed is committed the first time (a new seed per move would let an organizer
    /// pick a draw).
    pub(super) async fn set_opening(
        &self,
        show: ShowId,
        current: &QueueConfig,
        wanted: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let now = self.backend.now_ms();
        let came = current.opens_at.is_some_and(|at| at.timestamp_millis() <= now);
        let closed = self.db.fairness().fairness(show).await?.is_some_and(|row| row.closed_at.is_some());
        if came || closed {
            return Err(ApiError::new(Code::OpeningFixed, "the opening has come and its draw is done or under way"));
        }
        if wanted.timestamp_millis() <= now {
            return Err(ApiError::new(Code::InvalidConfig, "opens_at must be in the future"));
        }
        if current.opens_at.is_none() && self.backend.counts(show).await?.joined_total > 0 {
            return Err(ApiError::new(
                Code::QueueStarted,
                "people joined this queue already; set a fair opening before",
            ));
        }
        self.db.fairness().commit_seed(show).await?;
        Ok(())
    }

    /// Closes the show's pre-queue at its opening (idempotent): the store serving the queue
    /// keeps the next seqs for its users, and later joins queue behind them. Whether it is
    /// closed now.
    pub async fn close_pre_queue(&self, show: ShowId) -> Result<bool, StoreError> {
        if self.openings.is_closed(show) {
            return Ok(true);
        }
        let injected = self.backend.injected_now();
        let backend = &self.backend;
        self.db
            .fairness()
            .close_pre_queue(show, injected, async |size| backend.close_for_draw(show, size).await)
            .await?;
        if self.db.fairness().fairness(show).await?.is_some_and(|row| row.closed_at.is_some()) {
            // The close made a hole after the drawn seqs: positions behind it skip it.
            self.cursors.set_show_holes(show, self.backend.holes(show).await?);
            self.openings.mark_closed(show);
        }
        Ok(self.openings.is_closed(show))
    }

    /// Closes and draws the show's pre-queue once its opening has come.
    pub(super) async fn open_if_due(&self, show: ShowId) {
        if self.openings.is_drawn(show) {
            return;
        }
        if let Err(error) = self.try_opening(show).await {
            tracing::warn!(%error, %show, "the fair opening could not go on yet");
        }
    }

    async fn try_opening(&self, show: ShowId) -> Result<(), StoreError> {
        let Some(opens_at) = self.queue_config(show).await?.and_then(|config| config.opens_at) else {
            return Ok(());
        };
        if self.backend.now_ms() < opens_at.timestamp_millis() {
            return Ok(());
        }
        if !self.close_pre_queue(show).await? {
            return Ok(());
        }
        self.draw(show).await?;
        if self.db.fairness().fairness(show).await?.is_some_and(|row| row.drawn_at.is_some()) {
            self.openings.mark_drawn(show);
        }
        Ok(())
    }

    /// Draws the pre-queue, if this instance gets to.
    async fn draw(&self, show: ShowId) -> Result<(), StoreError> {
        let started = Instant::now();
        let Some((row, users)) = self.db.fairness().claim_draw(show, DRAW_LEASE).await? else { return Ok(()) };
        let fetched = started.elapsed();
        let base = row.draw_base.unwrap_or_default();
        let seed = row.seed.clone();
        // Half a million HMACs and a sort: a blocking thread's work, not an async worker's.
        let drawn = tokio::task::spawn_blocking(move || fairness::draw(&seed, &users))
            .await
            .map_err(|error| StoreError::Internal(anyhow::anyhow!("the draw did not finish: {error}")))?;
        let ordered = started.elapsed();
        let order: Vec<Uuid> = drawn.iter().map(|place| place.user).collect();
        self.backend.place_drawn(show, base, &order).await?;
        let (placed, placed_at) = (started.elapsed(), Utc::now());
        // The places are taken (admission goes on); the entries are recorded before the seed
        // is revealed, since a draw marked done is not drawn again.
        self.db.fairness().record_draw(show, base, &drawn).await?;
        self.db.fairness().finish_draw(show).await?;
        let recorded = started.elapsed();
        self.openings.mark_drawn(show);
        metrics::histogram!("boxoffice_draw_seconds").record(placed.as_secs_f64());
        let paused = row.closed_at.map(|closed| (placed_at - closed).num_milliseconds());
        tracing::info!(
            %show,
            drawn = order.len(),
            fetched_ms = fetched.as_millis() as u64,
            ordered_ms = (ordered - fetched).as_millis() as u64,
            placed_ms = placed.as_millis() as u64,
            recorded_ms = (recorded - placed).as_millis() as u64,
            admission_waited_ms = paused,
            "pre-queue drawn"
        );
        Ok(())
    }

    /// Turns true once the show's draw is done (for pre-queued fans' streams).
    pub fn watch_draw(&self, show: ShowId) -> watch::Receiver<bool> {
        self.openings.watch(show)
    }

    /// A queue token for the user's place at `seq`; with the draw's HMAC of the user when
    /// the fair opening drew that place.
    pub(super) async fn drawn_token(&self, show: ShowId, user: Uuid, seq: i64) -> Result<String, StoreError> {
        Ok(match self.draw_of(show).await?.filter(|draw| draw.contains(seq)) {
            Some(draw) => {
                let key = fairness::draw_key(&draw.seed, user);
                self.tokens.issue_drawn(user, show, seq, hex::encode(key)).token
            }
            None => self.tokens.issue_queue(user, show, seq).token,
        })
    }

    /// The show's draw once its pre-queue closed, from Postgres the first time only.
    async fn draw_of(&self, show: ShowId) -> Result<Option<Arc<DrawnSeqs>>, StoreError> {
        if let Some(draw) = self.openings.draw(show) {
            return Ok(Some(draw));
        }
        let Some(row) = self.db.fairness().fairness(show).await? else { return Ok(None) };
        let Some((base, size)) = row.draw_base.zip(row.pre_queue_size) else { return Ok(None) };
        let draw = Arc::new(DrawnSeqs { seed: row.seed, base, size });
        self.openings.remember_draw(show, draw.clone());
        Ok(Some(draw))
    }

    /// The show's fair opening as published: the commitment at once; the seed after the draw.
    pub async fn fairness(&self, show: ShowId) -> Result<Fairness, ApiError> {
        let config = self.queue_config(show).await?;
        let config = config.ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))?;
        let row = match config.opens_at {
            Some(_) => self.db.fairness().fairness(show).await?,
            None => None,
        };
        let drawn = row.as_ref().filter(|row| row.drawn_at.is_some());
        Ok(Fairness {
            opens_at: config.opens_at,
            commitment: row.as_ref().map(|row| row.commitment.clone()),
            seed: drawn.map(|row| hex::encode(&row.seed)),
            pre_queue_size: drawn.and_then(|row| row.pre_queue_size),
            algorithm: ALGORITHM,
        })
    }

    /// The drawn places after `after_seq` (default: from the first), at most `limit`, in seq
    /// order; none until the draw is done.
    pub async fn draw_entries(
        &self,
        show: ShowId,
        after_seq: Option<i64>,
        limit: i64,
    ) -> Result<DrawEntries, ApiError> {
        if !(1..=MAX_ENTRIES).contains(&limit) {
            return Err(ApiError::new(Code::InvalidQuery, format!("limit must be between 1 and {MAX_ENTRIES}")));
        }
        self.queue_config(show).await?.ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))?;
        let row = self.db.fairness().fairness(show).await?.filter(|row| row.drawn_at.is_some());
        let Some(row) = row else { return Ok(DrawEntries { entries: Vec::new(), next_after_seq: None }) };
        let after = after_seq.unwrap_or(row.draw_base.unwrap_or_default());
        let found = self.db.fairness().draw_entries(show, after, limit).await?;
        let next_after_seq = (found.len() as i64 == limit).then(|| found.last().map(|entry| entry.seq)).flatten();
        let entries =
            found.into_iter().map(|e| DrawEntry { seq: e.seq, user_hash: e.user_hash, hmac: e.hmac }).collect();
        Ok(DrawEntries { entries, next_after_seq })
    }
}
