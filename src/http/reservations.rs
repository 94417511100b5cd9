//! Reservations: the holds are checked, then the sale commits in Postgres, whose unique
//! (show, seat) key is the final word (on the Postgres fallback, all in one transaction).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::holds::{SeatSelection, validated};
use crate::auth::{AnyAuth, QueueAuth};
use crate::domain::{SeatId, ShowId};
use crate::error::{ApiError, Code};
use crate::limits::UserLimit;
use crate::state::AppState;
use crate::store::NotSold;
use crate::store::postgres::reservations::{Reservation, Sale, fingerprint};

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

fn key_reused() -> ApiError {
    ApiError::new(Code::IdempotencyKeyReused, "this Idempotency-Key was used for a different request")
}

fn seats_sold(seats: Vec<SeatId>) -> ApiError {
    ApiError::new(Code::SeatSold, "some seats are already sold").with_seat_ids(seats)
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
    let (show, seats) = (auth.show, &body.seat_ids);
    let key = idempotency_key(&req)?;
    state.limit_user(UserLimit::Reservations, auth.user)?;
    validated(&state, show, seats).await?;
    if let Some(earlier) = earlier_answer(&state, auth.user, key.as_deref(), show, seats).await? {
        return Ok(earlier);
    }
    // Checked holds must outlive the sale's transaction, whose every call is bounded by the
    // Postgres timeout (and there are a few).
    let keep = state.settings.database.timeout * 4;
    let refusal = match state.switch.sell(show, auth.user, seats, key.as_deref(), keep).await? {
        Ok(Sale::Created(reservation)) => {
            metrics::counter!("boxoffice_reservations_total").increment(1);
            return Ok(HttpResponse::Created().json(ReservationView::from(reservation)));
        }
        Ok(Sale::Replayed(earlier)) => return Ok(HttpResponse::Ok().json(ReservationView::from(earlier))),
        Ok(Sale::SeatsTaken(taken)) => {
            metrics::counter!("boxoffice_double_sale_refused_total").increment(1);
            return Err(seats_sold(taken));
        }
        Ok(Sale::KeyReused) => return Err(key_reused()),
        Err(NotSold::Sold(sold)) => seats_sold(sold),
        Err(NotSold::NotHeld(missing)) => {
            ApiError::new(Code::HoldMissing, "hold every seat before confirming").with_seat_ids(missing)
        }
    };
    // A request with the same key may have sold these seats since we looked: a retry racing
    // its original gets the original's answer, not a 409.
    earlier_answer(&state, auth.user, key.as_deref(), show, seats).await?.ok_or(refusal)
}

/// The reservation an earlier request with this Idempotency-Key made, as a 200.
async fn earlier_answer(
    state: &AppState,
    user: Uuid,
    key: Option<&str>,
    show: ShowId,
    seats: &[SeatId],
) -> Result<Option<HttpResponse>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    match state.db.replay(user, key, &fingerprint(show, seats)).await? {
        Some(Sale::Replayed(earlier)) => Ok(Some(HttpResponse::Ok().json(ReservationView::from(earlier)))),
        Some(Sale::KeyReused) => Err(key_reused()),
        _ => Ok(None),
    }
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
    let id = path.into_inner();
    match state.db.reservation(id).await? {
        Some(reservation) if reservation.user_id == auth.0.sub => {
            Ok(HttpResponse::Ok().json(ReservationView::from(reservation)))
        }
        _ => Err(ApiError::not_found(format!("no reservation {id}"))),
    }
}
