//! Reservations: buying held seats. The rules (holds checked, the sale committed in
//! Postgres, whose unique (show, seat) key is the final word) are `sale::seats`'.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::holds::SeatSelection;
use crate::auth::{AnyAuth, QueueAuth};
use crate::domain::{SeatId, ShowId};
use crate::error::{ApiError, Code};
use crate::limits::UserLimit;
use crate::sale::{Reservation, SaleAnswer};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/shows/{show_id}/reservations").route(web::post().to(reserve)))
        .service(super::resource("/v1/reservations/{reservation_id}").route(web::get().to(get_reservation)));
}

const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

#[derive(Serialize, ToSchema)]
pub struct ReservationView {
    pub id: Uuid,
    pub show_id: ShowId,
    pub seat_ids: Vec<SeatId>,
    /// `confirmed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<Reservation> for ReservationView {
    fn from(r: Reservation) -> Self {
        Self { id: r.id, show_id: r.show_id, seat_ids: r.seat_ids, status: r.status, created_at: r.created_at }
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = raw.to_str().ok().map(str::trim).unwrap_or_default();
    let printable = key.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
        return Err(ApiError::new(
            Code::InvalidIdempotencyKey,
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters"),
        ));
    }
    Ok(Some(key.to_string()))
}

/// Buy the seats I hold.
///
/// Every seat must be held by me. With an `Idempotency-Key`, a retry returns the reservation
/// the first request made (200), never a second one.
#[utoipa::path(post, path = "/v1/shows/{show_id}/reservations", tag = "reservations", security(("bearer" = [])),
    params(("show_id" = i64, Path),
           ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "makes retries safe: 1 to 200 printable ASCII characters",
            min_length = 1, max_length = 200, pattern = "^[ -~]*[!-~][ -~]*$")),
    request_body = SeatSelection,
    responses(
        (status = 201, body = ReservationView),
        (status = 200, body = ReservationView, description = "replayed for the same Idempotency-Key"),
        (status = 400, body = crate::error::ErrorBody, description = "`invalid_idempotency_key`, or a body that isn't one"),
        (status = 409, body = crate::error::ErrorBody, description = "`hold_missing` or `seat_sold`, with `seat_ids`"),
        (status = 422, body = crate::error::ErrorBody, description = "`invalid_seats`, or `idempotency_key_reused` for another request"),
        (status = 429, body = crate::error::ErrorBody, description = "`rate_limited`: too many purchase requests; see Retry-After")))]
pub async fn reserve(
    req: HttpRequest,
    auth: QueueAuth,
    body: super::json::Json<SeatSelection>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    state.limit_user(UserLimit::Reservations, auth.user)?;
    Ok(match state.sale.sell(auth.show, auth.user, &body.seat_ids, key.as_deref()).await? {
        SaleAnswer::Created(reservation) => HttpResponse::Created().json(ReservationView::from(reservation)),
        SaleAnswer::Replayed(earlier) => HttpResponse::Ok().json(ReservationView::from(earlier)),
    })
}

/// One of my reservations; someone else's is a 404.
#[utoipa::path(get, path = "/v1/reservations/{reservation_id}", tag = "reservations", security(("bearer" = [])),
    params(("reservation_id" = Uuid, Path)),
    responses((status = 200, body = ReservationView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_reservation(
    auth: AnyAuth,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let reservation = state.sale.reservation(auth.0.sub, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ReservationView::from(reservation)))
}
