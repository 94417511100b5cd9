//! The seat map and seat holds, for active users. The rules are the sale's (`sale::seats`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::QueueAuth;
use crate::domain::{SeatId, ShowId};
use crate::error::ApiError;
use crate::limits::UserLimit;
use crate::sale::{Holds, SeatList};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/shows/{show_id}/seats").route(web::get().to(list_seats)))
        .service(
            super::resource("/v1/shows/{show_id}/holds")
                .route(web::post().to(hold_seats))
                .route(web::get().to(my_holds)),
        )
        .service(super::resource("/v1/shows/{show_id}/holds/{seat_id}").route(web::delete().to(release_hold)));
}

/// A list of seats of one show.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatSelection {
    /// Distinct seats of this show.
    #[schema(min_items = 1, max_items = 50)]
    pub seat_ids: Vec<SeatId>,
}

/// The seat map with each seat's status.
#[utoipa::path(get, path = "/v1/shows/{show_id}/seats", tag = "seats", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 200, body = SeatList), (status = 403, body = crate::error::ErrorBody, description = "`not_active`")))]
pub async fn list_seats(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.sale.ensure_active(auth.show, auth.user).await?;
    let seats: SeatList = state.sale.seat_list(auth.show).await?;
    Ok(HttpResponse::Ok().json(seats))
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
    state.limit_user(UserLimit::Holds, auth.user)?;
    let held: Holds = state.sale.hold(auth.show, auth.user, &body.seat_ids).await?;
    Ok(HttpResponse::Created().json(held))
}

/// My current holds in this show.
#[utoipa::path(get, path = "/v1/shows/{show_id}/holds", tag = "seats", security(("bearer" = [])),
    params(("show_id" = i64, Path)), responses((status = 200, body = Holds)))]
pub async fn my_holds(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.sale.holds_of(auth.show, auth.user).await?))
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
    state.sale.release(auth.show, auth.user, seat).await?;
    Ok(HttpResponse::NoContent().finish())
}
