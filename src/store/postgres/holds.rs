//! Seat holds on Postgres, the fallback while Redis can't serve: a `holds` row per held seat
//! (its primary key is the seat), taken all-or-nothing. The upsert takes a seat only when it
//! is free, lapsed or already the user's, so of two racing users exactly one gets it; seats
//! are locked in seat order, so two multi-seat holds can't deadlock.
//!
//! The hold requests of a show that arrive together go as one transaction, decided one after
//! another (as on Redis): a storm of a thousand requests for one seat is a few transactions,
//! not a thousand queued on one row lock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Database;
use super::queue::{end_places, live};
use crate::clock::Clock;
use crate::domain::{SeatId, ShowId};
use crate::store::batch::{BatchCall, Batcher, Limits};
use crate::store::{HoldCheck, HoldOutcome, HoldStore, SeatStates, StoreError, Unavailable, UserHolds};

type HoldRequest = (Uuid, Vec<SeatId>);

pub struct PgHolds {
    db: Database,
    clock: Clock,
    holds: Batcher<HoldRequest, HoldOutcome>,
}

impl PgHolds {
    /// Must be called inside the tokio runtime that should run the batched holds.
    pub fn new(db: Database, clock: Clock) -> Self {
        let (batch_db, batch_clock) = (db.clone(), clock.clone());
        let call: BatchCall<HoldRequest, HoldOutcome> = Arc::new(move |show, requests| {
            let (db, now) = (batch_db.clone(), batch_clock.injected());
            Box::pin(async move { db.bounded(hold_batch(&db, now, show, requests)).await })
        });
        let holds = Batcher::new(call, Limits::per_show(db.timeout()));
        Self { db, clock, holds }
    }
}

async fn hold_batch(
    db: &Database,
    injected: Option<DateTime<Utc>>,
    show: ShowId,
    requests: Vec<HoldRequest>,
) -> Result<Vec<HoldOutcome>, StoreError> {
    let (mut tx, now) = db.begin_fenced(injected).await?;
    let mut outcomes = Vec::with_capacity(requests.len());
    for (user, seats) in &requests {
        outcomes.push(hold_in(&mut tx, show, *user, seats, now).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// The seats of `seats` that are in `taken`, in request order.
fn in_request_order(seats: &[SeatId], taken: &[SeatId]) -> Vec<SeatId> {
    seats.iter().copied().filter(|s| taken.contains(s)).collect()
}

/// The user's live admitted place, locked (it serialises one user's hold requests, so the
/// per-user limit holds); claims the session on the first request. `None`: not active.
async fn lock_active_place(
    tx: &mut PgConnection,
    show: ShowId,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    let place: Option<(i64, bool)> = sqlx::query_as(concat!(
        "SELECT seq, claimed_at IS NOT NULL FROM queue_entries
         WHERE show_id = $1 AND user_id = $2 AND admitted_at IS NOT NULL AND active_until > $3 AND ",
        live!(),
        " ORDER BY seq LIMIT 1 FOR UPDATE"
    ))
    .bind(show)
    .bind(user)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((seq, claimed)) = place else { return Ok(None) };
    if !claimed {
        sqlx::query(
            "UPDATE queue_entries SET claimed_at = $3,
                    active_until = $3 + make_interval(secs => (SELECT session_ttl_s FROM queue_configs WHERE show_id = $1))
             WHERE show_id = $1 AND seq = $2",
        )
        .bind(show)
        .bind(seq)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(Some(seq))
}

async fn sold_among(tx: &mut PgConnection, show: ShowId, seats: &[SeatId]) -> Result<Vec<SeatId>, sqlx::Error> {
    sqlx::query_scalar("SELECT seat_id FROM sold_seats WHERE show_id = $1 AND seat_id = ANY($2)")
        .bind(show)
        .bind(seats)
        .fetch_all(tx)
        .await
}

/// Holds each seat unless someone else holds it now; returns the seats it got.
async fn take_seats(
    tx: &mut PgConnection,
    show: ShowId,
    user: Uuid,
    seats: &[SeatId],
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<SeatId>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO holds (show_id, seat_id, user_id, expires_at)
         SELECT $1, seat, $3, $5 FROM UNNEST($2::bigint[]) AS s(seat) ORDER BY seat
         ON CONFLICT (show_id, seat_id) DO UPDATE SET user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at
         WHERE holds.user_id = EXCLUDED.user_id OR holds.expires_at <= $4
         RETURNING seat_id",
    )
    .bind(show)
    .bind(seats)
    .bind(user)
    .bind(now)
    .bind(until)
    .fetch_all(tx)
    .await
}

/// One hold request, all or nothing; claims the session (as on Redis, even when the seats
/// are not available).
async fn hold_in(
    tx: &mut PgConnection,
    show: ShowId,
    user: Uuid,
    seats: &[SeatId],
    now: DateTime<Utc>,
) -> Result<HoldOutcome, sqlx::Error> {
    if lock_active_place(tx, show, user, now).await?.is_none() {
        return Ok(HoldOutcome::NotActive);
    }
    let (ttl_s, limit): (i32, i32) =
        sqlx::query_as("SELECT hold_ttl_s, max_seats_per_user FROM queue_configs WHERE show_id = $1")
            .bind(show)
            .fetch_one(&mut *tx)
            .await?;
    let mut unavailable = sold_among(tx, show, seats).await?;
    let others: Vec<SeatId> = sqlx::query_scalar(
        "SELECT seat_id FROM holds WHERE show_id = $1 AND seat_id = ANY($2) AND user_id <> $3 AND expires_at > $4",
    )
    .bind(show)
    .bind(seats)
    .bind(user)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    unavailable.extend(others);
    if !unavailable.is_empty() {
        return Ok(HoldOutcome::Unavailable(in_request_order(seats, &unavailable)));
    }
    let elsewhere: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM holds WHERE show_id = $1 AND user_id = $2 AND expires_at > $3 AND seat_id <> ALL($4)",
    )
    .bind(show)
    .bind(user)
    .bind(now)
    .bind(seats)
    .fetch_one(&mut *tx)
    .await?;
    if elsewhere + seats.len() as i64 > i64::from(limit) {
        return Ok(HoldOutcome::OverLimit { limit: limit as u32 });
    }
    let until = now + chrono::Duration::seconds(i64::from(ttl_s));
    sqlx::query("SAVEPOINT hold").execute(&mut *tx).await?;
    let taken = take_seats(tx, show, user, seats, now, until).await?;
    if taken.len() < seats.len() {
        // Lost a race for some seat since the check above: all or nothing.
        sqlx::query("ROLLBACK TO SAVEPOINT hold").execute(&mut *tx).await?;
        let lost: Vec<SeatId> = seats.iter().copied().filter(|s| !taken.contains(s)).collect();
        return Ok(HoldOutcome::Unavailable(lost));
    }
    Ok(HoldOutcome::Held { expires_at_ms: until.timestamp_millis() })
}

impl PgHolds {
    async fn check_in(
        &self,
        tx: &mut PgConnection,
        show: ShowId,
        user: Uuid,
        seats: &[SeatId],
        keep: Duration,
        now: DateTime<Utc>,
    ) -> Result<HoldCheck, sqlx::Error> {
        let sold = sold_among(tx, show, seats).await?;
        if !sold.is_empty() {
            return Ok(HoldCheck::Sold(in_request_order(seats, &sold)));
        }
        let keep_until = now + chrono::Duration::from_std(keep).unwrap_or_default();
        let mine: Vec<SeatId> = sqlx::query_scalar(
            "UPDATE holds SET expires_at = greatest(expires_at, $5)
             WHERE show_id = $1 AND seat_id = ANY($2) AND user_id = $3 AND expires_at > $4 RETURNING seat_id",
        )
        .bind(show)
        .bind(seats)
        .bind(user)
        .bind(now)
        .bind(keep_until)
        .fetch_all(&mut *tx)
        .await?;
        let missing: Vec<SeatId> = seats.iter().copied().filter(|s| !mine.contains(s)).collect();
        Ok(if missing.is_empty() { HoldCheck::AllHeld } else { HoldCheck::Missing(missing) })
    }

    async fn fenced<T>(
        &self,
        work: impl for<'c> AsyncFnOnce(&'c mut PgConnection, DateTime<Utc>) -> Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        self.db.fenced(self.clock.injected(), async |tx, now| Ok(work(tx, now).await?)).await
    }

    async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        match self.clock.injected() {
            Some(now) => Ok(now),
            None => self.db.timed(sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(&self.db.pool)).await,
        }
    }
}

#[async_trait]
impl HoldStore for PgHolds {
    #[tracing::instrument(skip(self))]
    async fn hold(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<HoldOutcome, StoreError> {
        self.holds.call(show, (user, seats.to_vec())).await
    }

    #[tracing::instrument(skip(self))]
    async fn release(&self, show: ShowId, user: Uuid, seat: SeatId) -> Result<bool, StoreError> {
        let work = async |tx: &mut PgConnection, now| -> Result<bool, sqlx::Error> {
            let released = sqlx::query(
                "DELETE FROM holds WHERE show_id = $1 AND seat_id = $2 AND user_id = $3 AND expires_at > $4",
            )
            .bind(show)
            .bind(seat)
            .bind(user)
            .bind(now)
            .execute(tx)
            .await?;
            Ok(released.rows_affected() == 1)
        };
        self.fenced(work).await
    }

    #[tracing::instrument(skip(self))]
    async fn holds_of(&self, show: ShowId, user: Uuid) -> Result<UserHolds, StoreError> {
        let now = self.now().await?;
        let query = sqlx::query_as::<_, (SeatId, DateTime<Utc>)>(
            "SELECT seat_id, expires_at FROM holds WHERE show_id = $1 AND user_id = $2 AND expires_at > $3
             ORDER BY expires_at, seat_id",
        )
        .bind(show)
        .bind(user)
        .bind(now);
        let rows = self.db.timed(query.fetch_all(&self.db.pool)).await?;
        Ok(UserHolds {
            seat_ids: rows.iter().map(|(seat, _)| *seat).collect(),
            expires_at_ms: rows.iter().map(|(_, until)| until.timestamp_millis()).min(),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn seat_states(&self, show: ShowId) -> Result<SeatStates, StoreError> {
        let now = self.now().await?;
        let query = sqlx::query_as::<_, (Vec<SeatId>, Vec<SeatId>)>(
            "SELECT ARRAY(SELECT seat_id FROM sold_seats WHERE show_id = $1),
                    ARRAY(SELECT seat_id FROM holds WHERE show_id = $1 AND expires_at > $2)",
        )
        .bind(show)
        .bind(now);
        let (sold, held) = self.db.timed(query.fetch_one(&self.db.pool)).await?;
        Ok(SeatStates { sold, held })
    }

    #[tracing::instrument(skip(self))]
    async fn unavailable(&self, show: ShowId) -> Result<Unavailable, StoreError> {
        let states = self.seat_states(show).await?;
        Ok(Unavailable { sold: states.sold.len() as u64, held: states.held.len() as u64 })
    }

    #[tracing::instrument(skip(self))]
    async fn check(&self, show: ShowId, user: Uuid, seats: &[SeatId], keep: Duration) -> Result<HoldCheck, StoreError> {
        self.fenced(async |tx, now| self.check_in(tx, show, user, seats, keep, now).await).await
    }

    #[tracing::instrument(skip(self))]
    async fn complete_sale(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<(), StoreError> {
        let work = async |tx: &mut PgConnection, now| -> Result<(), sqlx::Error> {
            sqlx::query("DELETE FROM holds WHERE show_id = $1 AND (seat_id = ANY($2) OR user_id = $3)")
                .bind(show)
                .bind(seats)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            let places: Vec<i64> = sqlx::query_scalar(concat!(
                "SELECT seq FROM queue_entries WHERE show_id = $1 AND user_id = $2 AND ",
                live!()
            ))
            .bind(show)
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
            end_places(tx, show, &places, "confirmed_at", now).await
        };
        self.fenced(work).await
    }

    /// Postgres' `sold_seats` is where sales are recorded: nothing to mark.
    async fn mark_sold(&self, _show: ShowId, _seats: &[SeatId]) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_seats_are_reported_in_the_order_asked() {
        assert_eq!(in_request_order(&[9, 3, 5], &[5, 9]), vec![9, 5]);
    }
}
