//! The fair opening, published: the commitment to the seed as soon as the opening is set,
//! then, after the draw, the seed and every drawn place (without user ids), so anyone can
//! recompute the order (`scripts/verify_draw.py` does).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::ShowId;
use crate::domain::fairness::ALGORITHM;
use crate::error::{ApiError, Code};
use crate::state::AppState;

/// Most entries one page gives.
const MAX_ENTRIES: i64 = 1000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/shows/{show_id}/fairness").route(web::get().to(fairness)))
        .service(super::resource("/v1/shows/{show_id}/fairness/entries").route(web::get().to(entries)));
}

#[derive(Serialize, ToSchema)]
pub struct Fairness {
    /// When the queue opens; null without a fair opening.
    pub opens_at: Option<DateTime<Utc>>,
    /// Hex SHA-256 of the seed, published as soon as the opening is set.
    pub commitment: Option<String>,
    /// The hex seed, once the draw is done.
    pub seed: Option<String>,
    /// How many were drawn, once the draw is done.
    pub pre_queue_size: Option<i64>,
    /// `hmac-sha256-v1`: places in ascending HMAC-SHA256(seed, user id as 36 lowercase characters).
    pub algorithm: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct DrawEntry {
    pub seq: i64,
    /// Hex SHA-256 of the user id (36 lowercase characters).
    pub user_hash: String,
    /// Hex HMAC-SHA256(seed, user id): ascending with `seq`.
    pub hmac: String,
}

#[derive(Serialize, ToSchema)]
pub struct DrawEntries {
    pub entries: Vec<DrawEntry>,
    /// Pass as `after_seq` for the next page; null on the last.
    pub next_after_seq: Option<i64>,
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
    let show = path.into_inner();
    let config = state.queue_configs.get(&state.db, show).await?;
    let config = config.ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))?;
    let row = match config.opens_at {
        Some(_) => state.db.fairness(show).await?,
        None => None,
    };
    let drawn = row.as_ref().filter(|row| row.drawn_at.is_some());
    Ok(HttpResponse::Ok().json(Fairness {
        opens_at: config.opens_at,
        commitment: row.as_ref().map(|row| row.commitment.clone()),
        seed: drawn.map(|row| hex::encode(&row.seed)),
        pre_queue_size: drawn.and_then(|row| row.pre_queue_size),
        algorithm: ALGORITHM,
    }))
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
    let show = path.into_inner();
    let limit = page.limit.unwrap_or(MAX_ENTRIES);
    if !(1..=MAX_ENTRIES).contains(&limit) {
        return Err(ApiError::new(Code::InvalidQuery, format!("limit must be between 1 and {MAX_ENTRIES}")));
    }
    state
        .queue_configs
        .get(&state.db, show)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))?;
    let row = state.db.fairness(show).await?.filter(|row| row.drawn_at.is_some());
    let Some(row) = row else {
        return Ok(HttpResponse::Ok().json(DrawEntries { entries: Vec::new(), next_after_seq: None }));
    };
    let after = page.after_seq.unwrap_or(row.draw_base.unwrap_or_default());
    let found = state.db.draw_entries(show, after, limit).await?;
    let next_after_seq = (found.len() as i64 == limit).then(|| found.last().map(|entry| entry.seq)).flatten();
    let entries = found.into_iter().map(|e| DrawEntry { seq: e.seq, user_hash: e.user_hash, hmac: e.hmac }).collect();
    Ok(HttpResponse::Ok().json(DrawEntries { entries, next_after_seq }))
}
