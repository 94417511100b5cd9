//! The public catalog, served from the serving store's catalog (`sale::catalog`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{ConcertId, ShowId};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/concerts").route(web::get().to(list_concerts)))
        .service(super::resource("/v1/concerts/{concert_id}").route(web::get().to(get_concert)));
}

#[derive(Serialize, ToSchema)]
pub struct ConcertSummary {
    pub id: ConcertId,
    pub title: String,
    pub shows: Vec<ShowSummary>,
}

#[derive(Serialize, ToSchema)]
pub struct ShowSummary {
    pub id: ShowId,
    pub starts_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ConcertDetail {
    pub id: ConcertId,
    pub title: String,
    pub shows: Vec<ShowDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct ShowDetail {
    pub id: ShowId,
    pub starts_at: DateTime<Utc>,
    pub seat_count: i64,
    /// Seats neither sold nor held right now.
    pub available: i64,
}

/// List concerts and their shows.
#[utoipa::path(get, path = "/v1/concerts", tag = "catalog", responses((status = 200, body = Vec<ConcertSummary>)))]
pub async fn list_concerts(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let concerts = state.sale.concerts(None).await?;
    let summaries: Vec<ConcertSummary> = concerts
        .into_iter()
        .map(|c| ConcertSummary {
            id: c.id,
            title: c.title,
            shows: c.shows.iter().map(|s| ShowSummary { id: s.id, starts_at: s.starts_at }).collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(summaries))
}

/// One concert, with each show's seat count and seats available now.
#[utoipa::path(get, path = "/v1/concerts/{concert_id}", tag = "catalog",
    params(("concert_id" = i64, Path, description = "concert id")),
    responses((status = 200, body = ConcertDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_concert(path: web::Path<ConcertId>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (concert, shows) = state.sale.concert(path.into_inner()).await?;
    let shows = shows
        .into_iter()
        .map(|free| ShowDetail {
            id: free.show.id,
            starts_at: free.show.starts_at,
            seat_count: free.show.seat_count,
            available: free.available,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ConcertDetail { id: concert.id, title: concert.title, shows }))
}
