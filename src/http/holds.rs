//! The seat map and seat holds, for active users.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::QueueAuth;
use crate::domain::holds::validate_seat_request;
use crate::domain::{SeatId, ShowId};
use crate::error::{ApiError, Code};
use crate::limits::UserLimit;
use crate::state::AppState;
use crate::store::HoldOutcome;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/shows/{show_id}/seats").route(web::get().to(list_seats)))
        .service(
            super::resource("/v1/shows/{show_id}/holds")
                .route(web::post().to(hold_seats))
                .route(web::get().to(my_holds)),
        )
        .service(super::resource("/v1/shows/{show_id}/holds/{seat_id}").route(web::delete().to(release_hold)));
}

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

/// A list of seats of one show.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatSelection {
    /// Distinct seats of this show.
    #[schema(min_items = 1, max_items = 50)]
    pub seat_ids: Vec<SeatId>,
}

#[derive(Serialize, ToSchema)]
pub struct Holds {
    pub seat_ids: Vec<SeatId>,
    /// When the (first of these) holds lapses; null without holds.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Checks a seat selection against the show's seat map (422 when it is not valid).
pub(crate) async fn validated(state: &AppState, show: ShowId, seat_ids: &[SeatId]) -> Result<(), ApiError> {
    let map = state.seat_map(show).await?;
    validate_seat_request(seat_ids, |seat| map.contains(seat))
        .map_err(|e| ApiError::new(Code::InvalidSeats, e.message()).with_seat_ids(e.seat_ids()))
}

pub(crate) fn not_active() -> ApiError {
    ApiError::new(Code::NotActive, "you are not in this show's active set (still waiting, or your session ended)")
}

/// The seat map with each seat's status.
#[utoipa::path(get, path = "/v1/shows/{show_id}/seats", tag = "seats", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 200, body = SeatList), (status = 403, body = crate::error::ErrorBody, description = "`not_active`")))]
pub async fn list_seats(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    ensure_active(&state, &auth).await?;
    Ok(HttpResponse::Ok().json(seat_list(&state, auth.show).await?))
}

/// 403 `not_active` unless the token's holder is in the show's active set.
pub(crate) async fn ensure_active(state: &AppState, auth: &QueueAuth) -> Result<(), ApiError> {
    match state.queue.presence(auth.show, auth.user).await?.active_until_ms {
        Some(_) => Ok(()),
        None => Err(not_active()),
    }
}

/// The show's seat map with each seat's status now.
pub(crate) async fn seat_list(state: &AppState, show: ShowId) -> Result<SeatList, ApiError> {
    let (map, states, config) = tokio::try_join!(
        state.seat_map(show),
        state.holds.seat_states(show),
        state.queue_configs.get(&state.db, show)
    )?;
    let sold: std::collections::HashSet<SeatId> = states.sold.into_iter().collect();
    let held: std::collections::HashSet<SeatId> = states.held.into_iter().map(|(seat, _)| seat).collect();
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

/// Hold seats for a few minutes: all of them, or none.
#[utoipa::path(post, path = "/v1/shows/{show_id}/holds", tag = "seats", security(("bearer" = [])),
    params(("show_id" = i64, Path)), request_body = SeatSelection,
    responses(
        (status = 201, body = Holds),
        (status = 403, body = crate::error::ErrorBody, description = "`not_active`"),
        (status = 409, body = crate::error::ErrorBody, description = "`seat_unavailable`, with the `seat_ids` held by others or sold"),
        (status = 422, body = crate::error::ErrorBody, description = "`invalid_seats` (empty, repeated, unknown or too many seats) or `too_many_seats` (over the per-user limit)"),
        (status = 429, body = crate::error::ErrorBody, description = "`rate_limited`: too many hold requests; see Retry-After")))]
pub async fn hold_seats(
    auth: QueueAuth,
    body: super::json::Json<SeatSelection>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (show, seats) = (auth.show, &body.seat_ids);
    state.limit_user(UserLimit::Holds, auth.user)?;
    validated(&state, show, seats).await?;
    match state.holds.hold(show, auth.user, seats).await? {
        HoldOutcome::Held { expires_at_ms } => {
            metrics::counter!("boxoffice_holds_total").increment(1);
            Ok(HttpResponse::Created()
                .json(Holds { seat_ids: seats.clone(), expires_at: Some(super::from_millis(expires_at_ms)) }))
        }
        HoldOutcome::Unavailable(taken) => {
            Err(ApiError::new(Code::SeatUnavailable, "some seats are held by someone else or sold; nothing was held")
                .with_seat_ids(taken))
        }
        HoldOutcome::NotActive => Err(not_active()),
        HoldOutcome::OverLimit { limit } => {
            Err(ApiError::new(Code::TooManySeats, format!("you may hold at most {limit} seats in this show")))
        }
    }
}

/// My current holds in this show.
#[utoipa::path(get, path = "/v1/shows/{show_id}/holds", tag = "seats", security(("bearer" = [])),
    params(("show_id" = i64, Path)), responses((status = 200, body = Holds)))]
pub async fn my_holds(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let holds = state.holds.holds_of(auth.show, auth.user).await?;
    Ok(HttpResponse::Ok()
        .json(Holds { seat_ids: holds.seat_ids, expires_at: holds.expires_at_ms.map(super::from_millis) }))
}

/// Release one of my holds.
#[utoipa::path(delete, path = "/v1/shows/{show_id}/holds/{seat_id}", tag = "seats", security(("bearer" = [])),
    params(("show_id" = i64, Path), ("seat_id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody, description = "`hold_not_found`: not held by you")))]
pub async fn release_hold(
    auth: QueueAuth,
    path: web::Path<(ShowId, SeatId)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_, seat) = path.into_inner();
    if !state.holds.release(auth.show, auth.user, seat).await? {
        return Err(ApiError::new(Code::HoldNotFound, format!("you hold no seat {seat} in this show")));
    }
    Ok(HttpResponse::NoContent().finish())
}
