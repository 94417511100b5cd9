//! The waiting queue: join, poll, leave.
//!
//! A waiting user's poll is answered from the `seq` in their queue token and this
//! instance's cached admission cursor, with no store round trip. Only a user the cursor may
//! have reached (seq <= cursor), or whose seq lies in a hole, is looked up in the store,
//! which gives back a place it lost when the token proves it.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AnyAuth, QueueAuth};
use crate::domain::ShowId;
use crate::domain::queue::{eta_seconds, poll_after_ms, position};
use crate::error::{ApiError, Code};
use crate::limits::Limit;
use crate::state::AppState;
use crate::store::{JoinOutcome, Placement, Presence};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/v1/shows/{show_id}/queue")
            .route(web::post().to(join_queue))
            .route(web::get().to(poll_queue))
            .route(web::delete().to(leave_queue)),
    );
}

/// How often an active user should check back (their session can end).
const ACTIVE_POLL_MS: u64 = 15_000;

#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum QueueStatus {
    Waiting,
    Active,
    Expired,
}

/// Where a user stands in a show's queue.
#[derive(Serialize, ToSchema, Debug)]
pub struct Standing {
    pub status: QueueStatus,
    /// 1 for the next user to be admitted; 0 once admitted. Never goes up while waiting.
    pub position: u64,
    /// Users ahead: `position - 1` while waiting.
    pub ahead: u64,
    /// Seconds until admission at the measured rate; null until the rate is known.
    pub eta_seconds: Option<u64>,
    /// Wait this long before polling again.
    pub poll_after_ms: u64,
    /// When the active session ends (null unless active).
    pub active_until: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct Joined {
    /// Proof of place: a JWT whose claims carry `sub`, `show` and `seq`. Send it as the
    /// Bearer token of every queue, seat, hold and reservation call of this show.
    pub queue_token: String,
    /// The join sequence number of this place (1-based).
    pub seq: i64,
    #[serde(flatten)]
    pub standing: Standing,
}

/// A waiting user's standing; a place the cursor passed without admitting it (reinstated)
/// is next in line.
pub(crate) fn waiting(state: &AppState, show: ShowId, seq: i64, cursor: i64) -> Standing {
    let position = position(seq, cursor, &state.cursors.holes(show)).unwrap_or(1);
    let eta = eta_seconds(position, state.cursors.rate(show));
    Standing {
        status: QueueStatus::Waiting,
        position,
        ahead: position - 1,
        eta_seconds: eta,
        poll_after_ms: poll_after_ms(position, eta, rand::random()),
        active_until: None,
    }
}

fn active(until_ms: i64) -> Standing {
    Standing {
        status: QueueStatus::Active,
        position: 0,
        ahead: 0,
        eta_seconds: Some(0),
        poll_after_ms: ACTIVE_POLL_MS,
        active_until: Some(super::from_millis(until_ms)),
    }
}

fn expired() -> Standing {
    Standing {
        status: QueueStatus::Expired,
        position: 0,
        ahead: 0,
        eta_seconds: None,
        poll_after_ms: 0,
        active_until: None,
    }
}

async fn placed(state: &AppState, show: ShowId, place: &Placement) -> Result<Standing, ApiError> {
    state.sync_holes(show, place.holes_total).await?;
    if let Some(until) = place.active_until_ms {
        return Ok(active(until));
    }
    let cursor = match place.cursor {
        Some(cursor) => {
            state.cursors.observe(show, cursor);
            cursor
        }
        None => state.cursor(show).await?,
    };
    Ok(waiting(state, show, place.seq, cursor))
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
        (status = 409, body = crate::error::ErrorBody, description = "`queue_closed`: the queue is paused"),
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
    state.limit_user(Limit::JoinsPerUser, user)?;
    state.limit_ip(Limit::JoinsPerIp, &req)?;
    if let (Some(token_show), Some(seq)) = (auth.0.show, auth.0.seq)
        && token_show == show
    {
        // Joining with a queue token: a place the store lost comes back first, so joining
        // again finds it. The token proves a place: no proof of work again.
        state.switch.presence_with_proof(show, user, seq).await?;
    } else {
        super::pow::check(&state, show, user, body.pow.as_ref()).await?;
    }
    let place = match state.queue.join(show, user).await? {
        JoinOutcome::Closed => {
            return Err(ApiError::new(Code::QueueClosed, "this queue is not taking new users right now"));
        }
        JoinOutcome::Placed(place) => place,
    };
    if place.created {
        metrics::counter!("boxoffice_queue_joins_total").increment(1);
    }
    let body = Joined {
        queue_token: state.tokens.issue_queue(user, show, place.seq).token,
        seq: place.seq,
        standing: placed(&state, show, &place).await?,
    };
    Ok(super::json_status(place.created, &body))
}

/// Where I stand: waiting (with position and ETA), active, or expired.
#[utoipa::path(get, path = "/v1/shows/{show_id}/queue", tag = "queue", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 200, body = Standing), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody, description = "a token for another show")))]
pub async fn poll_queue(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(standing_now(&state, &auth).await?))
}

/// Where the token's holder stands now: from the cached cursor while it is behind them,
/// else from the store (which gives back a place it lost when the token proves it).
pub(crate) async fn standing_now(state: &AppState, auth: &QueueAuth) -> Result<Standing, ApiError> {
    let cursor = state.cursor(auth.show).await?;
    if position(auth.seq, cursor, &state.cursors.holes(auth.show)).is_some() {
        return Ok(waiting(state, auth.show, auth.seq, cursor));
    }
    let presence = state.switch.presence_with_proof(auth.show, auth.user, auth.seq).await?;
    state.cursors.observe(auth.show, presence.cursor);
    Ok(standing(state, auth, &presence))
}

fn standing(state: &AppState, auth: &QueueAuth, presence: &Presence) -> Standing {
    match presence.active_until_ms {
        Some(until) => active(until),
        None if presence.waiting => waiting(state, auth.show, auth.seq, presence.cursor),
        None => expired(),
    }
}

/// Leave the queue, or give my active slot back at once.
#[utoipa::path(delete, path = "/v1/shows/{show_id}/queue", tag = "queue", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody, description = "`not_in_queue`")))]
pub async fn leave_queue(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.queue.leave(auth.show, auth.user).await? {
        return Err(ApiError::new(Code::NotInQueue, "you are neither waiting nor active in this show"));
    }
    Ok(HttpResponse::NoContent().finish())
}
