//! Reservations: committed in Postgres synchronously, one transaction per sale. The primary
//! key of `sold_seats` decides every race, including ones Redis lost track of.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use sqlx::PgConnection;

use super::{Sales, holds};
use crate::domain::{SeatId, ShowId};
use crate::store::{Constraint, NotSold, StoreError};

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Reservation {
    pub id: Uuid,
    pub show_id: ShowId,
    pub user_id: Uuid,
    pub seat_ids: Vec<SeatId>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Sale {
    Created(Reservation),
    /// The same Idempotency-Key, the same request: the reservation made the first time.
    Replayed(Reservation),
    /// These seats were sold to someone else; nothing was written.
    SeatsTaken(Vec<SeatId>),
    /// The Idempotency-Key was used before for a different request.
    KeyReused,
}

/// What a sale request asked for; an Idempotency-Key replays only the same request.
pub fn fingerprint(show: ShowId, seats: &[SeatId]) -> String {
    let mut sorted = seats.to_vec();
    sorted.sort_unstable();
    let seats: Vec<String> = sorted.iter().map(ToString::to_string).collect();
    format!("show={show};seats={}", seats.join(","))
}

impl Sales<'_> {
    /// Sells the seats to the user, or says why not. A keyed request should ask [`Self::replay`]
    /// first; here the key only settles a race between two requests with the same key.
    #[tracing::instrument(skip(self, idempotency_key))]
    pub async fn sell(
        &self,
        show: ShowId,
        user: Uuid,
        seats: &[SeatId],
        idempotency_key: Option<&str>,
    ) -> Result<Sale, StoreError> {
        let print = fingerprint(show, seats);
        let sold = self
            .bounded(async {
                let mut tx = self.pool.begin().await?;
                let reservation = insert_sale(&mut tx, show, user, seats, idempotency_key, &print).await?;
                tx.commit().await?;
                Ok(Sale::Created(reservation))
            })
            .await;
        self.settle(sold, show, user, seats, idempotency_key).await
    }

    /// While Postgres serves the holds: checks them, sells the seats, releases the user's
    /// holds and gives the active slot back, all in one transaction. `Err` says why not:
    /// seats sold, or not held by this user.
    #[tracing::instrument(skip(self, idempotency_key))]
    pub async fn sell_held(
        &self,
        now: Option<DateTime<Utc>>,
        show: ShowId,
        user: Uuid,
        seats: &[SeatId],
        idempotency_key: Option<&str>,
    ) -> Result<Result<Sale, NotSold>, StoreError> {
        let print = fingerprint(show, seats);
        let attempt = self
            .fenced(now, async |tx, now| {
                if let Some(refusal) = holds::refusal(tx, show, user, seats, now, now).await? {
                    return Ok(Err(refusal));
                }
                let reservation = insert_sale(tx, show, user, seats, idempotency_key, &print).await?;
                holds::finish_sale(tx, show, user, seats, now).await?;
                Ok(Ok(Sale::Created(reservation)))
            })
            .await;
        match attempt {
            Ok(Err(refusal)) => Ok(Err(refusal)),
            Ok(Ok(sale)) => Ok(Ok(sale)),
            Err(error) => self.settle(Err(error), show, user, seats, idempotency_key).await.map(Ok),
        }
    }

    /// What a refused insert means: a concurrent request with the same key committed first
    /// (its reservation), or someone bought a seat first (which ones).
    async fn settle(
        &self,
        sold: Result<Sale, StoreError>,
        show: ShowId,
        user: Uuid,
        seats: &[SeatId],
        idempotency_key: Option<&str>,
    ) -> Result<Sale, StoreError> {
        match (sold, idempotency_key) {
            (Err(StoreError::Conflict(Constraint::IdempotencyKey)), Some(key)) => self
                .replay(user, key, &fingerprint(show, seats))
                .await?
                .ok_or(StoreError::Conflict(Constraint::IdempotencyKey)),
            (Err(StoreError::Conflict(Constraint::SoldSeat)), _) => {
                Ok(Sale::SeatsTaken(self.already_sold(show, seats).await?))
            }
            (other, _) => other,
        }
    }

    /// The outcome of an earlier request with this key, if there was one.
    pub async fn replay(&self, user: Uuid, key: &str, print: &str) -> Result<Option<Sale>, StoreError> {
        let earlier: Option<(String, Option<Uuid>)> = self
            .timed(
                sqlx::query!(
                    "SELECT fingerprint, reservation_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                    user,
                    key
                )
                .map(|row| (row.fingerprint, row.reservation_id))
                .fetch_optional(&self.pool),
            )
            .await?;
        match earlier {
            None => Ok(None),
            Some((earlier_print, _)) if earlier_print != print => Ok(Some(Sale::KeyReused)),
            Some((_, Some(id))) => Ok(self.reservation(id).await?.map(Sale::Replayed)),
            Some((_, None)) => Ok(None),
        }
    }

    async fn already_sold(&self, show: ShowId, seats: &[SeatId]) -> Result<Vec<SeatId>, StoreError> {
        let query = sqlx::query_scalar!(
            r#"SELECT seat_id AS "seat_id: SeatId" FROM sold_seats WHERE show_id = $1 AND seat_id = ANY($2) ORDER BY seat_id"#,
            show as _,
            seats as _
        );
        self.timed(query.fetch_all(&self.pool)).await
    }

    pub async fn reservation(&self, id: Uuid) -> Result<Option<Reservation>, StoreError> {
        let query = sqlx::query_as!(
            Reservation,
            r#"SELECT id, show_id AS "show_id: ShowId", user_id, seat_ids AS "seat_ids: Vec<SeatId>", status, created_at
                   FROM reservations WHERE id = $1"#,
            id
        );
        self.timed(query.fetch_optional(&self.pool)).await
    }
}

/// Records a sale: the reservation, its seats (whose primary key refuses a second sale)
/// and the Idempotency-Key that made it.
async fn insert_sale(
    tx: &mut PgConnection,
    show: ShowId,
    user: Uuid,
    seats: &[SeatId],
    idempotency_key: Option<&str>,
    print: &str,
) -> Result<Reservation, sqlx::Error> {
    if let Some(key) = idempotency_key {
        sqlx::query!("INSERT INTO idempotency_keys (user_id, key, fingerprint) VALUES ($1, $2, $3)", user, key, print)
            .execute(&mut *tx)
            .await?;
    }
    let reservation: Reservation = sqlx::query_as!(
        Reservation,
        r#"INSERT INTO reservations (id, show_id, user_id, seat_ids) VALUES ($1, $2, $3, $4)
           RETURNING id, show_id AS "show_id: ShowId", user_id, seat_ids AS "seat_ids: Vec<SeatId>", status, created_at"#,
        Uuid::new_v4(),
        show as _,
        user,
        seats as _
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO sold_seats (show_id, seat_id, reservation_id) SELECT $1, UNNEST($2::bigint[]), $3",
        show as _,
        seats as _,
        reservation.id as _
    )
    .execute(&mut *tx)
    .await?;
    if let Some(key) = idempotency_key {
        sqlx::query!(
            "UPDATE idempotency_keys SET reservation_id = $3 WHERE user_id = $1 AND key = $2",
            user,
            key,
            reservation.id as _
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(reservation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ids: &[i64]) -> Vec<SeatId> {
        ids.iter().copied().map(SeatId).collect()
    }

    #[test]
    fn a_fingerprint_ignores_seat_order_but_not_the_show() {
        assert_eq!(fingerprint(ShowId(1), &s(&[3, 1, 2])), fingerprint(ShowId(1), &s(&[1, 2, 3])));
        assert_ne!(fingerprint(ShowId(1), &s(&[1])), fingerprint(ShowId(2), &s(&[1])));
    }
}
