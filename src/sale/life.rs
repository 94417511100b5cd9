//! The life of each show's sale (see [`crate::domain::life`]): what a fan is told in each
//! state, a sale whose last seat sold, and letting go of an ended one: its queue tokens
//! refused, and once its event streams have drained into Postgres, its Redis keys removed.
//! Postgres keeps its history and answers for it from then on.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Sale;
use crate::domain::life::SaleState;
use crate::domain::queue::QueueConfig;
use crate::domain::{SeatId, ShowId, from_millis};
use crate::error::{ApiError, Code};
use crate::store::{QueueCounts, QueueStore, StoreError};

impl Sale {
    /// The state of the show's sale now; 404 for no such show.
    pub async fn sale_state(&self, show: ShowId) -> Result<SaleState, ApiError> {
        self.life_of(show).await?.ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))
    }

    /// Refuses a join the sale's state doesn't take; a closed sale keeps the places it has
    /// (one a queue token for `proof` proves is given back first, if the store lost it).
    pub(super) async fn may_join(&self, show: ShowId, user: Uuid, proof: Option<i64>) -> Result<(), ApiError> {
        let state = self.sale_state(show).await?;
        if state.takes_new_places() {
            return Ok(());
        }
        if state == SaleState::Closed {
            if let Some(seq) = proof {
                self.backend.presence_with_proof(show, user, seq).await?;
            }
            if self.backend.place_of(show, user).await?.is_some() {
                return Ok(());
            }
        }
        Err(refusal(state))
    }

    /// Whether the show's sale has ended (Postgres answers for it then).
    pub(super) async fn has_ended(&self, show: ShowId) -> bool {
        matches!(self.life_of(show).await, Ok(Some(SaleState::Ended)))
    }

    /// After a sale: once the last seat went, the show is sold out for every instance.
    pub(super) async fn sold_out_if_all_sold(&self, show: ShowId) {
        match self.db.season().sold_out_if_all_sold(show).await {
            Ok(true) => self.settings_changed(show).await,
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, %show, "cannot tell whether the show sold out"),
        }
    }

    /// Sales that have ended: their queue tokens are refused from now on; with `let_go`,
    /// those whose event streams have drained lose their Redis keys, a bounded number a call
    /// (the first start after an upgrade finds every show that ever ended).
    pub async fn follow_endings(&self, let_go: bool) {
        let now_ms = self.backend.now_ms();
        let mut let_go_budget = if let_go { LET_GO_A_ROUND } else { 0 };
        for show in self.live.ended(now_ms) {
            match self.life_of(show).await {
                Ok(Some(SaleState::Ended)) => self.tokens.ended_shows().end(show),
                // Moved later (its new end is expected too), or no such show.
                Ok(_) => {
                    self.live.not_ending_by(show, now_ms);
                    continue;
                }
                Err(error) => {
                    tracing::debug!(%error, %show, "cannot read an ended show's settings");
                    continue;
                }
            }
            if let_go_budget == 0 {
                continue;
            }
            let_go_budget -= 1;
            if let Err(error) = self.let_go(show).await {
                tracing::debug!(%error, %show, "ended show not let go of this time");
            }
        }
    }

    /// Removes the ended show's Redis keys once its streams are written to Postgres (until
    /// then the show is live, so the write-behind drains it).
    async fn let_go(&self, show: ShowId) -> Result<(), StoreError> {
        if self.show_stream_stats(show).await?.unacked > 0 {
            self.live.busy(show);
            return Ok(());
        }
        let seats: Vec<SeatId> = self.db.catalog().seats(show).await?.iter().map(|seat| seat.id).collect();
        if self.backend.let_go(show, &seats).await? {
            self.db.season().released(show).await?;
            self.live.let_go(show);
            tracing::info!(%show, "the show's sale ended and its history is in postgres: its redis keys are removed");
        }
        Ok(())
    }

    /// What one show's settings, just changed, say of its life: also an end to come.
    pub(super) fn expect_life(&self, show: ShowId, config: &QueueConfig) {
        self.note_life(show, config);
        if let Some(ends_at) = config.ends_at {
            self.live.ending_at(show, ends_at.timestamp_millis());
        }
    }

    /// What any read of a show's settings says of its life: an opening to wake for, an end
    /// that came.
    pub(super) fn note_life(&self, show: ShowId, config: &QueueConfig) {
        self.expect_opening(show, config);
        if SaleState::of(config, self.now()) == SaleState::Ended {
            self.tokens.ended_shows().end(show);
        }
    }

    async fn life_of(&self, show: ShowId) -> Result<Option<SaleState>, StoreError> {
        Ok(self.queue_config(show).await?.map(|config| SaleState::of(&config, self.now())))
    }

    fn now(&self) -> DateTime<Utc> {
        from_millis(self.backend.now_ms())
    }

    /// The counts of the show's queue: from Postgres once its sale ended.
    pub(super) async fn counts_of(&self, show: ShowId) -> Result<QueueCounts, StoreError> {
        match self.has_ended(show).await {
            true => self.backend.recorded_counts(show).await,
            false => self.backend.counts(show).await,
        }
    }
}

/// Ended shows one call of [`Sale::follow_endings`] lets go of at most.
const LET_GO_A_ROUND: usize = 20;

/// What a fan who can't join is told.
fn refusal(state: SaleState) -> ApiError {
    match state {
        SaleState::Scheduled => ApiError::new(Code::NotOnSaleYet, "This sale hasn't opened yet."),
        SaleState::SoldOut => ApiError::new(Code::SoldOut, "Every seat of this show is sold."),
        SaleState::Closed => ApiError::new(Code::SaleClosed, "This sale is closed to new fans."),
        _ => ApiError::new(Code::ShowEnded, "This show's sale has ended."),
    }
}
