//! Seats: the seat map with each seat's status, holds (all of them or none, for active fans
//! only, under the per-fan limit), releases by their holder, and sales. A sale checks the
//! holds, then commits in Postgres, whose unique (show, seat) key is the final word; an
//! `Idempotency-Key` makes a retry answer the first sale, never a second one.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Sale;
use crate::cache::SeatMap;
use crate::domain::from_millis;
use crate::domain::holds::validate_seat_request;
use crate::domain::{SeatId, ShowId};
use crate::error::{ApiError, Code};
use crate::store::postgres::reservations::{Reservation, Sale as Decided, fingerprint};
use crate::store::{HoldOutcome, HoldStore, NotSold, SeatStates, StoreError, Unavailable};

#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

#[derive(Serialize, ToSchema)]
pub struct SeatView {
    pub id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    /// In the currency's main unit, e.g. 49.99.
    pub price: f64,
    pub price_cents: i64,
    pub status: SeatStatus,
}

#[derive(Serialize, ToSchema)]
pub struct SeatList {
    pub show_id: ShowId,
    pub seats: Vec<SeatView>,
    /// The most seats one fan may hold at once in this show.
    pub max_seats_per_user: u32,
}

// A fan's holds in a show.
#[derive(Serialize, ToSchema)]
pub struct Holds {
    pub seat_ids: Vec<SeatId>,
    /// When the (first of these) holds lapses; null without holds.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A sale made now, or the one an earlier request with the same key made.
pub enum SaleAnswer {
    Created(Reservation),
    Replayed(Reservation),
}

fn not_active() -> ApiError {
    ApiError::new(Code::NotActive, "you are not in this show's active set (still waiting, or your session ended)")
}

fn seats_sold(seats: Vec<SeatId>) -> ApiError {
    ApiError::new(Code::SeatSold, "some seats are already sold").with_seat_ids(seats)
}

fn key_reused() -> ApiError {
    ApiError::new(Code::IdempotencyKeyReused, "this Idempotency-Key was used for a different request")
}

impl Sale {
    /// The show's seat map: from memory, else the serving store's catalog.
    pub(super) async fn seat_map(&self, show: ShowId) -> Result<Arc<SeatMap>, StoreError> {
        if let Some(map) = self.seat_maps.get(show) {
            return Ok(map);
        }
        let seats = self.backend.catalog().seats(show).await?;
        if seats.is_empty() {
            return Err(StoreError::NotFound(format!("no show with id {show}")));
        }
        Ok(self.seat_maps.insert(show, seats))
    }

    /// 403 `not_active` unless the user is in the show's active set.
    pub async fn ensure_active(&self, show: ShowId, user: Uuid) -> Result<(), ApiError> {
        if self.is_active(show, user).await? { Ok(()) } else { Err(not_active()) }
    }

    /// The seat map of a show with each seat's status now.
    pub async fn seat_list(&self, show: ShowId) -> Result<SeatList, ApiError> {
        let (map, states, config) =
            tokio::try_join!(self.seat_map(show), self.backend.seat_states(show), self.queue_config(show))?;
        let sold: HashSet<SeatId> = states.sold.into_iter().collect();
        let held: HashSet<SeatId> = states.held.into_iter().map(|(seat, _)| seat).collect();
        let seats = map
            .seats
            .iter()
            .map(|seat| SeatView {
                id: seat.id,
                section: seat.section.clone(),
                row: seat.row.clone(),
                number: seat.number,
                price: seat.price_cents as f64 / 100.0,
                price_cents: seat.price_cents,
                status: if sold.contains(&seat.id) {
                    SeatStatus::Sold
                } else if held.contains(&seat.id) {
                    SeatStatus::Held
                } else {
                    SeatStatus::Available
                },
            })
            .collect();
        let max_seats_per_user = config.unwrap_or_default().max_seats_per_user;
        Ok(SeatList { show_id: show, seats, max_seats_per_user })
    }

    /// Every seat's state now, for the seat boards of the event streams.
    pub async fn seat_states(&self, show: ShowId) -> Result<SeatStates, StoreError> {
        self.backend.seat_states(show).await
    }

    /// How many of a show's seats are held and sold now.
    pub async fn availability_of(&self, show: ShowId) -> Result<Unavailable, StoreError> {
        if self.has_ended(show).await {
            let states = self.backend.recorded_seat_states(show).await?;
            return Ok(Unavailable { sold: states.sold.len() as u64, held: states.held.len() as u64 });
        }
        self.backend.unavailable(show).await
    }

    /// 422 unless the seats are a valid request of this show's seats.
    async fn validated(&self, show: ShowId, seat_ids: &[SeatId]) -> Result<(), ApiError> {
        let map = self.seat_map(show).await?;
        validate_seat_request(seat_ids, |seat| map.contains(seat))
            .map_err(|e| ApiError::new(Code::InvalidSeats, e.message()).with_seat_ids(e.seat_ids()))
    }

    /// Holds every seat for the user, or none of them.
    pub async fn hold(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<Holds, ApiError> {
        self.validated(show, seats).await?;
        match self.backend.hold(show, user, seats).await? {
            HoldOutcome::Held { expires_at_ms, .. } => {
                metrics::counter!("boxoffice_holds_total").increment(1);
                Ok(Holds { seat_ids: seats.to_vec(), expires_at: Some(from_millis(expires_at_ms)) })
            }
            HoldOutcome::Unavailable(taken) => Err(ApiError::new(
                Code::SeatUnavailable,
                "some seats are held by someone else or sold; nothing was held",
            )
            .with_seat_ids(taken)),
            HoldOutcome::NotActive => Err(not_active()),
            HoldOutcome::OverLimit { limit } => {
                Err(ApiError::new(Code::TooManySeats, format!("you may hold at most {limit} seats in this show")))
            }
        }
    }

    /// The user's holds in the show.
    pub async fn holds_of(&self, show: ShowId, user: Uuid) -> Result<Holds, ApiError> {
        let holds = self.backend.holds_of(show, user).await?;
        Ok(Holds { seat_ids: holds.seat_ids, expires_at: holds.expires_at_ms.map(from_millis) })
    }

    /// Releases one of the user's holds: nobody can release another user's hold.
    pub async fn release(&self, show: ShowId, user: Uuid, seat: SeatId) -> Result<(), ApiError> {
        if !self.backend.release(show, user, seat).await? {
            return Err(ApiError::new(Code::HoldNotFound, format!("you hold no seat {seat} in this show")));
        }
        Ok(())
    }

    /// Sells the seats the user holds. With a key, a retry gets the sale the first request
    /// made; a seat is never sold twice (Postgres decides).
    pub async fn sell(
        &self,
        show: ShowId,
        user: Uuid,
        seats: &[SeatId],
        key: Option<&str>,
    ) -> Result<SaleAnswer, ApiError> {
        self.validated(show, seats).await?;
        if let Some(earlier) = self.earlier_sale(user, key, show, seats).await? {
            return Ok(SaleAnswer::Replayed(earlier));
        }
        // Checked holds must outlive the sale's transaction, whose every call is bounded by
        // the Postgres timeout (and there are a few).
        let keep = self.settings.database.timeout * 4;
        let refusal = match self.backend.sell(show, user, seats, key, keep).await? {
            Ok(Decided::Created(reservation)) => {
                metrics::counter!("boxoffice_reservations_total").increment(1);
                self.sold_out_if_all_sold(show).await;
                return Ok(SaleAnswer::Created(reservation));
            }
            Ok(Decided::Replayed(earlier)) => return Ok(SaleAnswer::Replayed(earlier)),
            Ok(Decided::SeatsTaken(taken)) => {
                metrics::counter!("boxoffice_double_sale_refused_total").increment(1);
                return Err(seats_sold(taken));
            }
            Ok(Decided::KeyReused) => return Err(key_reused()),
            Err(NotSold::Sold(sold)) => seats_sold(sold),
            Err(NotSold::NotHeld(missing)) => {
                ApiError::new(Code::HoldMissing, "hold every seat before confirming").with_seat_ids(missing)
            }
        };
        // A request with the same key may have sold these seats since we looked: a retry
        // racing its original gets the original's answer, not a 409.
        self.earlier_sale(user, key, show, seats).await?.map(SaleAnswer::Replayed).ok_or(refusal)
    }

    /// The sale an earlier request with this Idempotency-Key made.
    async fn earlier_sale(
        &self,
        user: Uuid,
        key: Option<&str>,
        show: ShowId,
        seats: &[SeatId],
    ) -> Result<Option<Reservation>, ApiError> {
        let Some(key) = key else { return Ok(None) };
        match self.db.sales().replay(user, key, &fingerprint(show, seats)).await? {
            Some(Decided::Replayed(earlier)) => Ok(Some(earlier)),
            Some(Decided::KeyReused) => Err(key_reused()),
            _ => Ok(None),
        }
    }

    /// One of the user's reservations (someone else's is not found).
    pub async fn reservation(&self, user: Uuid, id: Uuid) -> Result<Reservation, ApiError> {
        match self.db.sales().reservation(id).await? {
            Some(reservation) if reservation.user_id == user => Ok(reservation),
            _ => Err(ApiError::not_found(format!("no reservation {id}"))),
        }
    }
}
