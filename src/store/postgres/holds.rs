//! Seat holds on Postgres, the fallback while Redis can't serve: a `holds` row per held seat
//! (its primary key is the seat, so no seat has two holders), taken all-or-nothing.
//!
//! The hold requests of a show that arrive together go as one transaction (the same batching
//! as on Redis), decided in memory one after another under a per-show lock: a storm of a
//! thousand requests for one seat is a few transactions of a few statements each, not a
//! thousand transactions queued on one row lock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Database;
use super::queue::{PlaceEnd, claim, end_places};
use crate::clock::Clock;
use crate::domain::holds::{HoldDecision, SeatBook};
use crate::domain::{SeatId, ShowId};
use crate::store::batch::{BatchCall, Batcher, Limits};
use crate::store::{HoldCheck, HoldOutcome, HoldStore, NotSold, SeatStates, StoreError, Unavailable, UserHolds};

type HoldRequest = (Uuid, Vec<SeatId>);

/// With the show id: one hold batch of a show at a time, across instances.
pub(super) const HOLDS_LOCK: i32 = 7407;

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
        let holds = Batcher::new(call, Limits::per_show("postgres", db.timeout()));
        Self { db, clock, holds }
    }
}

/// One transaction for a batch of hold requests, decided in memory one after another (see
/// [`SeatBook`]) against what Postgres holds, under a per-show lock (so batches from several
/// instances don't decide against the same stale state): a few statements per batch, not
/// per request.
async fn hold_batch(
    db: &Database,
    injected: Option<DateTime<Utc>>,
    show: ShowId,
    requests: Vec<HoldRequest>,
) -> Result<Vec<HoldOutcome>, StoreError> {
    db.fenced(injected, async |tx, now| {
        sqlx::query!("SELECT pg_advisory_xact_lock($1, $2)", HOLDS_LOCK, show.0 as i32).execute(&mut *tx).await?;
        let (ttl_s, limit): (i32, i32) =
            sqlx::query!("SELECT hold_ttl_s, max_seats_per_user FROM queue_configs WHERE show_id = $1", show as _)
                .map(|row| (row.hold_ttl_s, row.max_seats_per_user))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no show with id {show}")))?;
        let users: Vec<Uuid> = requests.iter().map(|(user, _)| *user).collect();
        let seats: Vec<SeatId> = requests.iter().flat_map(|(_, seats)| seats.iter().copied()).collect();
        let (mut book, places) = seat_book(tx, show, &users, &seats, now).await?;
        let until = now + chrono::Duration::seconds(i64::from(ttl_s));
        let (mut outcomes, mut taken) = (Vec::with_capacity(requests.len()), Vec::new());
        for (user, seats) in &requests {
            outcomes.push(match book.decide(*user, seats, limit as usize) {
                HoldDecision::Held => {
                    taken.extend(seats.iter().map(|seat| (*seat, *user)));
                    HoldOutcome::Held {
                        expires_at_ms: until.timestamp_millis(),
                        recorded_at_ms: now.timestamp_millis(),
                    }
                }
                HoldDecision::Unavailable(seats) => HoldOutcome::Unavailable(seats),
                HoldDecision::NotActive => HoldOutcome::NotActive,
                HoldDecision::OverLimit => HoldOutcome::OverLimit { limit: limit as u32 },
            });
        }
        // The first request after admission claims the session, as on Redis, whether or not
        // the seats were available.
        claim(tx, show, &places, now).await?;
        take_seats(tx, show, &taken, until).await?;
        Ok(outcomes)
    })
    .await
}

/// What the batch is decided against, with the requesters' places and the seats' holds
/// locked; and the active requesters' places.
async fn seat_book(
    tx: &mut PgConnection,
    show: ShowId,
    users: &[Uuid],
    seats: &[SeatId],
    now: DateTime<Utc>,
) -> Result<(SeatBook, Vec<i64>), sqlx::Error> {
    let active: Vec<(Uuid, i64)> = sqlx::query!("SELECT user_id, seq FROM queue_entries
         WHERE show_id = $1 AND user_id = ANY($2) AND admitted_at IS NOT NULL AND active_until > $3 AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL FOR UPDATE", show as _, users, now)
    .map(|row| (row.user_id, row.seq))
    .fetch_all(&mut *tx)
    .await?;
    let holders: Vec<(SeatId, Uuid)> = sqlx::query!(
        r#"SELECT seat_id AS "seat_id: SeatId", user_id FROM holds
         WHERE show_id = $1 AND (seat_id = ANY($2) OR user_id = ANY($3)) AND expires_at > $4 FOR UPDATE"#,
        show as _,
        seats as _,
        users,
        now
    )
    .map(|row| (row.seat_id, row.user_id))
    .fetch_all(&mut *tx)
    .await?;
    let book = SeatBook {
        sold: sold_among(tx, show, seats).await?.into_iter().collect(),
        holders: holders.into_iter().collect(),
        active: active.iter().map(|(user, _)| *user).collect(),
    };
    Ok((book, active.into_iter().map(|(_, seq)| seq).collect()))
}

async fn sold_among(tx: &mut PgConnection, show: ShowId, seats: &[SeatId]) -> Result<Vec<SeatId>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT seat_id AS "seat_id: SeatId" FROM sold_seats WHERE show_id = $1 AND seat_id = ANY($2)"#,
        show as _,
        seats as _
    )
    .fetch_all(tx)
    .await
}

/// Writes the holds the batch took (decided under the show's lock).
async fn take_seats(
    tx: &mut PgConnection,
    show: ShowId,
    taken: &[(SeatId, Uuid)],
    until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if taken.is_empty() {
        return Ok(());
    }
    let (seats, users): (Vec<SeatId>, Vec<Uuid>) = taken.iter().copied().unzip();
    sqlx::query!(
        "INSERT INTO holds (show_id, seat_id, user_id, expires_at)
         SELECT $1, seat, user_id, $4 FROM UNNEST($2::bigint[], $3::uuid[]) AS t(seat, user_id) ORDER BY seat
         ON CONFLICT (show_id, seat_id) DO UPDATE SET user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at",
        show as _,
        &seats as _,
        &users,
        until
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The seats of `seats` that are in `taken`, in request order.
fn in_request_order(seats: &[SeatId], taken: &[SeatId]) -> Vec<SeatId> {
    seats.iter().copied().filter(|s| taken.contains(s)).collect()
}

/// Why the user can't buy these seats now (some are sold, or not held by the user), if they
/// can; the user's holds on them are locked and kept until at least `keep_until`.
pub(super) async fn refusal(
    tx: &mut PgConnection,
    show: ShowId,
    user: Uuid,
    seats: &[SeatId],
    now: DateTime<Utc>,
    keep_until: DateTime<Utc>,
) -> Result<Option<NotSold>, sqlx::Error> {
    let sold = sold_among(tx, show, seats).await?;
    if !sold.is_empty() {
        return Ok(Some(NotSold::Sold(in_request_order(seats, &sold))));
    }
    let mine: Vec<SeatId> = sqlx::query_scalar!(r#"UPDATE holds SET expires_at = greatest(expires_at, $5)
         WHERE show_id = $1 AND seat_id = ANY($2) AND user_id = $3 AND expires_at > $4 RETURNING seat_id AS "seat_id: SeatId""#, show as _, seats as _, user, now, keep_until)
    .fetch_all(&mut *tx)
    .await?;
    let missing: Vec<SeatId> = seats.iter().copied().filter(|s| !mine.contains(s)).collect();
    Ok((!missing.is_empty()).then_some(NotSold::NotHeld(missing)))
}

/// After a sale: the seats' holds (whoever has them) and the buyer's other holds go, and the
/// buyer's place ends, giving the active slot back.
pub(super) async fn finish_sale(
    tx: &mut PgConnection,
    show: ShowId,
    user: Uuid,
    seats: &[SeatId],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM holds WHERE show_id = $1 AND (seat_id = ANY($2) OR user_id = $3)",
        show as _,
        seats as _,
        user
    )
    .execute(&mut *tx)
    .await?;
    let places: Vec<i64> =
        sqlx::query_scalar!("SELECT seq FROM queue_entries WHERE show_id = $1 AND user_id = $2 AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL", show as _, user)
            .fetch_all(&mut *tx)
            .await?;
    end_places(tx, show, &places, PlaceEnd::Confirmed, now).await
}

impl PgHolds {
    async fn fenced<T>(
        &self,
        work: impl for<'c> AsyncFnOnce(&'c mut PgConnection, DateTime<Utc>) -> Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        self.db.fenced(self.clock.injected(), async |tx, now| Ok(work(tx, now).await?)).await
    }

    async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        match self.clock.injected() {
            Some(now) => Ok(now),
            None => {
                self.db
                    .timed(sqlx::query_scalar!(r#"SELECT clock_timestamp() AS "now!""#).fetch_one(&self.db.pool))
                    .await
            }
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
        let work = async |tx: &mut PgConnection, now: DateTime<Utc>| -> Result<bool, sqlx::Error> {
            let released = sqlx::query!(
                "DELETE FROM holds WHERE show_id = $1 AND seat_id = $2 AND user_id = $3 AND expires_at > $4",
                show as _,
                seat as _,
                user,
                now
            )
            .execute(tx)
            .await?;
            Ok(released.rows_affected() == 1)
        };
        self.fenced(work).await
    }

    #[tracing::instrument(skip(self))]
    async fn holds_of(&self, show: ShowId, user: Uuid) -> Result<UserHolds, StoreError> {
        let now = self.now().await?;
        let query = sqlx::query!(
            r#"SELECT seat_id AS "seat_id: SeatId", expires_at FROM holds
               WHERE show_id = $1 AND user_id = $2 AND expires_at > $3
               ORDER BY expires_at, seat_id"#,
            show as _,
            user,
            now
        )
        .map(|row| (row.seat_id, row.expires_at));
        let rows = self.db.timed(query.fetch_all(&self.db.pool)).await?;
        Ok(UserHolds {
            seat_ids: rows.iter().map(|(seat, _)| *seat).collect(),
            expires_at_ms: rows.iter().map(|(_, until)| until.timestamp_millis()).min(),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn seat_states(&self, show: ShowId) -> Result<SeatStates, StoreError> {
        let now = self.now().await?;
        let query = sqlx::query!(
            r#"SELECT ARRAY(SELECT seat_id FROM sold_seats WHERE show_id = $1) AS "sold!: Vec<SeatId>",
                      ARRAY(SELECT seat_id FROM holds WHERE show_id = $1 AND expires_at > $2 ORDER BY seat_id) AS "held!: Vec<SeatId>",
                      ARRAY(SELECT expires_at FROM holds WHERE show_id = $1 AND expires_at > $2 ORDER BY seat_id) AS "until!""#,
            show as _,
            now
        )
        .map(|row| (row.sold, row.held, row.until));
        let (sold, held, until) = self.db.timed(query.fetch_one(&self.db.pool)).await?;
        let held = held.into_iter().zip(until.iter().map(DateTime::timestamp_millis)).collect();
        Ok(SeatStates { sold, held })
    }

    #[tracing::instrument(skip(self))]
    async fn unavailable(&self, show: ShowId) -> Result<Unavailable, StoreError> {
        let states = self.seat_states(show).await?;
        Ok(Unavailable { sold: states.sold.len() as u64, held: states.held.len() as u64 })
    }

    #[tracing::instrument(skip(self))]
    async fn check(&self, show: ShowId, user: Uuid, seats: &[SeatId], keep: Duration) -> Result<HoldCheck, StoreError> {
        let keep = chrono::Duration::from_std(keep).unwrap_or_default();
        let check =
            async |tx: &mut PgConnection, now: DateTime<Utc>| refusal(tx, show, user, seats, now, now + keep).await;
        Ok(match self.fenced(check).await? {
            None => HoldCheck::AllHeld,
            Some(NotSold::Sold(seats)) => HoldCheck::Sold(seats),
            Some(NotSold::NotHeld(seats)) => HoldCheck::Missing(seats),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn complete_sale(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<(), StoreError> {
        self.fenced(async |tx, now| finish_sale(tx, show, user, seats, now).await).await
    }

    /// Postgres' `sold_seats` is where sales are recorded: nothing to mark.
    async fn mark_sold(&self, _show: ShowId, _seats: &[SeatId]) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ids: &[i64]) -> Vec<SeatId> {
        ids.iter().copied().map(SeatId).collect()
    }

    #[test]
    fn unavailable_seats_are_reported_in_the_order_asked() {
        assert_eq!(in_request_order(&s(&[9, 3, 5]), &s(&[5, 9])), s(&[9, 5]));
    }
}
