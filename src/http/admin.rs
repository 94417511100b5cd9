//! Admin: create concerts and shows, tune a show's queue, watch it.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AdminAuth;
use crate::domain::catalog::SectionSpec;
use crate::domain::queue::{QueueConfig, QueueConfigPatch};
use crate::domain::{ConcertId, ShowId};
use crate::error::ApiError;
use crate::sale::QueueStats;
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
    let (id, title) = state.sale.create_concert(&body.title).await?;
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
    let show = state.sale.create_show(path.into_inner(), body.starts_at, &body.sections).await?;
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
    let config: QueueConfig = state.sale.settings_of(path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(config))
}

/// Change a show's queue settings; unset fields keep their value.
#[utoipa::path(put, path = "/v1/admin/shows/{show_id}/queue", tag = "admin", security(("bearer" = [])),
    params(("show_id" = i64, Path)), request_body = QueueConfigPatch,
    responses((status = 200, body = QueueConfig), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "`opening_fixed` (the opening came; it can't move), `queue_started` (a fair opening must be set before anyone joins) or `lanes_fixed` (lanes must be set before anyone joins)"),
              (status = 410, body = crate::error::ErrorBody, description = "`show_ended`: an ended sale's settings don't change"),
              (status = 422, body = crate::error::ErrorBody, description = "`invalid_config` (out of range, or an opening in the past)")))]
pub async fn update_queue_config(
    _: AdminAuth,
    path: web::Path<ShowId>,
    body: super::json::Json<QueueConfigPatch>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.sale.change_settings(path.into_inner(), &body).await?))
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
    Ok(HttpResponse::Ok().json(state.sale.stats(path.into_inner()).await?))
}
