//! The waiting queue: join, poll, leave. The rules are the sale's (`sale::queue`); these
//! handlers parse, authorise and answer.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{AnyAuth, QueueAuth};
use crate::domain::ShowId;
use crate::error::{ApiError, Code};
use crate::limits::{IpLimit, UserLimit};
use crate::sale::{Joined, Standing};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/v1/shows/{show_id}/queue")
            .route(web::post().to(join_queue))
            .route(web::get().to(poll_queue))
            .route(web::delete().to(leave_queue)),
    );
}

/// The optional body of a join.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// A solved challenge (`GET .../challenge`), when the show asks for proof of work.
    pub pow: Option<super::pow::PowSolution>,
}

fn join_body(req: &HttpRequest, body: &[u8]) -> Result<JoinBody, ApiError> {
    let Some(object) = super::optional_object(req, body)? else { return Ok(JoinBody::default()) };
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ApiError::new(Code::InvalidBody, e.to_string()))
}

/// Join a show's waiting queue.
///
/// Idempotent per user and show: joining again (a refresh, a retry, 50 tabs at once) returns
/// 200 with the same place and `seq`.
#[utoipa::path(post, path = "/v1/shows/{show_id}/queue", tag = "queue", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    request_body(content = Option<JoinBody>, description = "optional; `{\"pow\": {...}}` when the show asks for proof of work", content_type = "application/json"),
    responses(
        (status = 201, body = Joined, description = "joined"),
        (status = 200, body = Joined, description = "already in this queue: same place"),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "`queue_closed` (the queue is paused), `not_on_sale_yet` (the sale is scheduled), `sale_closed` (closed to new fans) or `sold_out`"),
        (status = 410, body = crate::error::ErrorBody, description = "`show_ended`: the show's sale has ended"),
        (status = 422, body = crate::error::ErrorBody, description = "`pow_invalid`: the show asks for proof of work and it is missing, wrong, expired, used or another user's"),
        (status = 429, body = crate::error::ErrorBody, description = "`rate_limited`: too many joins from this address or user; see Retry-After")))]
pub async fn join_queue(
    req: HttpRequest,
    auth: AnyAuth,
    path: web::Path<ShowId>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (show, user) = (path.into_inner(), auth.0.sub);
    let body = join_body(&req, &body)?;
    state.limit_user(UserLimit::Joins, user)?;
    state.limit_ip(IpLimit::Joins, &req)?;
    // A queue token of this show proves a join: no proof of work again.
    let place = auth.0.seq.filter(|_| auth.0.show == Some(show));
    if place.is_none() {
        let solution = body.pow.as_ref().map(|pow| (pow.challenge.as_str(), pow.nonce.as_str()));
        state.sale.check_proof(show, user, solution).await?;
    }
    let joined: Joined = state.sale.join(show, user, place).await?;
    Ok(super::json_status(joined.created, &joined))
}

/// Where I stand: waiting (with position and ETA), active, or expired.
#[utoipa::path(get, path = "/v1/shows/{show_id}/queue", tag = "queue", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 200, body = Standing), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody, description = "a token for another show"),
              (status = 410, body = crate::error::ErrorBody, description = "`show_ended`: the show's sale has ended")))]
pub async fn poll_queue(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let standing: Standing = state.sale.standing(auth.show, auth.user, auth.seq).await?;
    Ok(HttpResponse::Ok().json(standing))
}

/// Leave the queue, or give my active slot back at once.
#[utoipa::path(delete, path = "/v1/shows/{show_id}/queue", tag = "queue", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody, description = "`not_in_queue`"),
              (status = 503, body = crate::error::ErrorBody, description = "`unavailable`: among others, a pre-queued fan leaving while the pre-queue is drawn; leave again after Retry-After")))]
pub async fn leave_queue(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.sale.leave(auth.show, auth.user, auth.seq).await? {
        return Ok(HttpResponse::NoContent().finish());
    }
    Err(ApiError::new(Code::NotInQueue, "you are neither waiting nor active in this show"))
}
