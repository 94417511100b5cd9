//! The fair opening, published: the commitment to the seed as soon as the opening is set,
//! then, after the draw, the seed and every drawn place (without user ids), so anyone can
//! recompute the order (`docs/verify_draw.py` does).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::ShowId;
use crate::error::ApiError;
use crate::sale::{DrawEntries, Fairness, MAX_ENTRIES};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/shows/{show_id}/fairness").route(web::get().to(fairness)))
        .service(super::resource("/v1/shows/{show_id}/fairness/entries").route(web::get().to(entries)));
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Entries after this seq (default: from the first drawn place).
    after_seq: Option<i64>,
    /// At most this many (1 to 1000, default 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// The show's fair opening: the commitment at once; the seed after the draw.
#[utoipa::path(get, path = "/v1/shows/{show_id}/fairness", tag = "fairness",
    params(("show_id" = i64, Path)),
    responses((status = 200, body = Fairness), (status = 404, body = crate::error::ErrorBody)))]
pub async fn fairness(path: web::Path<ShowId>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let record: Fairness = state.sale.fairness(path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(record))
}

/// The drawn places, in seq order, a page at a time (empty until the draw is done).
#[utoipa::path(get, path = "/v1/shows/{show_id}/fairness/entries", tag = "fairness",
    params(("show_id" = i64, Path), Page),
    responses((status = 200, body = DrawEntries), (status = 400, body = crate::error::ErrorBody, description = "`invalid_query`"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn entries(
    path: web::Path<ShowId>,
    page: web::Query<Page>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit.unwrap_or(MAX_ENTRIES);
    let entries: DrawEntries = state.sale.draw_entries(path.into_inner(), page.after_seq, limit).await?;
    Ok(HttpResponse::Ok().json(entries))
}
