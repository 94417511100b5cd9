//! Admin: create concerts and shows, tune a show's queue, watch it.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AdminAuth;
use crate::domain::catalog::{SectionSpec, layout, validate_title};
use crate::domain::queue::{QueueConfig, QueueConfigPatch};
use crate::domain::{ConcertId, ShowId};
use crate::error::{ApiError, Code};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/admin/concerts").route(web::post().to(create_concert)))
        .service(super::resource("/v1/admin/concerts/{concert_id}/shows").route(web::post().to(create_show)))
        .service(
            super::resource("/v1/admin/shows/{show_id}/queue")
                .route(web::put().to(update_queue_config))
                .route(web::get().to(get_queue_config)),
        )
        .service(super::resource("/v1/admin/shows/{show_id}/queue/stats").route(web::get().to(queue_stats)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConcert {
    /// 1 to 200 printable characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConcertCreated {
    pub id: ConcertId,
    pub title: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShow {
    /// In the future.
    pub starts_at: DateTime<Utc>,
    /// Distinct section names; at most 50,000 seats in all.
    #[schema(min_items = 1, max_items = 20)]
    pub sections: Vec<SectionSpec>,
}

#[derive(Serialize, ToSchema)]
pub struct ShowCreated {
    pub id: ShowId,
    pub seat_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct QueueStats {
    /// Users waiting to be admitted.
    pub waiting: u64,
    /// Users in the active set now.
    pub active: u64,
    pub joined_total: u64,
    pub admitted_total: u64,
    /// Recently measured admissions per second (0 while unknown).
    pub admit_rate_per_s: f64,
    /// Seats held now.
    pub held: u64,
    /// Seats sold.
    pub sold: u64,
    /// The store that answered: `redis`, or `postgres` while the deployment serves from the
    /// fallback.
    pub backend: &'static str,
}

/// Create a concert.
#[utoipa::path(post, path = "/v1/admin/concerts", tag = "admin", security(("bearer" = [])),
    request_body = NewConcert,
    responses((status = 201, body = ConcertCreated), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody, description = "`invalid_title`")))]
pub async fn create_concert(
    _: AdminAuth,
    body: super::json::Json<NewConcert>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let title = validate_title(&body.title).map_err(|e| ApiError::new(Code::InvalidTitle, e))?;
    let id = state.db.create_concert(&title).await?;
    state.cache_new_concert(id, &title).await;
    Ok(HttpResponse::Created().json(ConcertCreated { id, title }))
}

/// Create a show of a concert, with its seats laid out section by section.
#[utoipa::path(post, path = "/v1/admin/concerts/{concert_id}/shows", tag = "admin", security(("bearer" = [])),
    params(("concert_id" = i64, Path)), request_body = NewShow,
    responses((status = 201, body = ShowCreated), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody, description = "`invalid_sections` or `invalid_starts_at`")))]
pub async fn create_show(
    _: AdminAuth,
    path: web::Path<ConcertId>,
    body: super::json::Json<NewShow>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let concert = path.into_inner();
    let seats = layout(&body.sections).map_err(|e| ApiError::new(Code::InvalidSections, e))?;
    if body.starts_at <= Utc::now() {
        return Err(ApiError::new(Code::InvalidStartsAt, "starts_at must be in the future"));
    }
    if !state.db.concert_exists(concert).await? {
        return Err(ApiError::not_found(format!("no concert with id {concert}")));
    }
    let show = state.db.create_show(concert, body.starts_at, &seats, &QueueConfig::default()).await?;
    state.cache_new_show(&show).await;
    Ok(HttpResponse::Created().json(ShowCreated { id: show.id, seat_count: show.seat_count }))
}

/// A show's queue settings.
#[utoipa::path(get, path = "/v1/admin/shows/{show_id}/queue", tag = "admin", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 200, body = QueueConfig), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_queue_config(
    _: AdminAuth,
    path: web::Path<ShowId>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(current_config(&state, path.into_inner()).await?))
}

/// Change a show's queue settings; unset fields keep their value.
#[utoipa::path(put, path = "/v1/admin/shows/{show_id}/queue", tag = "admin", security(("bearer" = [])),
    params(("show_id" = i64, Path)), request_body = QueueConfigPatch,
    responses((status = 200, body = QueueConfig), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "`opening_fixed` (the opening came; it can't move) or `queue_started` (a fair opening must be set before anyone joins)"),
              (status = 422, body = crate::error::ErrorBody, description = "`invalid_config` (out of range, or an opening in the past)")))]
pub async fn update_queue_config(
    _: AdminAuth,
    path: web::Path<ShowId>,
    body: super::json::Json<QueueConfigPatch>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let show = path.into_inner();
    let current = current_config(&state, show).await?;
    let config = body.apply(&current).map_err(|e| ApiError::new(Code::InvalidConfig, e))?;
    if let Some(wanted) = body.opens_at {
        check_opening(&state, show, &current, wanted).await?;
        state.db.commit_seed(show).await?;
    }
    state.db.put_queue_config(show, &config).await?;
    state.queue_configs.put(show, config.clone());
    state.load_show(show).await?;
    Ok(HttpResponse::Ok().json(config))
}

/// A fair opening is set before anyone joins, in the future, and stays put once it came.
async fn check_opening(
    state: &AppState,
    show: ShowId,
    current: &QueueConfig,
    wanted: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now = state.redis.clock.estimate_ms();
    let came = current.opens_at.is_some_and(|at| at.timestamp_millis() <= now);
    let closed = state.db.fairness(show).await?.is_some_and(|row| row.closed_at.is_some());
    if came || closed {
        return Err(ApiError::new(Code::OpeningFixed, "the opening has come and its draw is done or under way"));
    }
    if wanted.timestamp_millis() <= now {
        return Err(ApiError::new(Code::InvalidConfig, "opens_at must be in the future"));
    }
    if current.opens_at.is_none() && state.queue.counts(show).await?.joined_total > 0 {
        return Err(ApiError::new(Code::QueueStarted, "people joined this queue already; set a fair opening before"));
    }
    Ok(())
}

async fn current_config(state: &AppState, show: ShowId) -> Result<QueueConfig, ApiError> {
    state.db.queue_config(show).await?.ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))
}

/// Live queue counters of a show.
#[utoipa::path(get, path = "/v1/admin/shows/{show_id}/queue/stats", tag = "admin", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 200, body = QueueStats), (status = 404, body = crate::error::ErrorBody)))]
pub async fn queue_stats(
    _: AdminAuth,
    path: web::Path<ShowId>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let show = path.into_inner();
    let (counts, seats) = tokio::try_join!(state.queue.counts(show), state.holds.unavailable(show))?;
    state.cursors.observe(show, counts.cursor);
    Ok(HttpResponse::Ok().json(QueueStats {
        waiting: counts.waiting,
        active: counts.active,
        joined_total: counts.joined_total,
        admitted_total: counts.admitted_total,
        admit_rate_per_s: state.cursors.rate(show).unwrap_or(0.0),
        held: seats.held,
        sold: seats.sold,
        backend: state.switch.backend(),
    }))
}
