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
use uuid::Uuid;

use crate::auth::{AnyAuth, QueueAuth};
use crate::domain::ShowId;
use crate::domain::queue::{eta_seconds, poll_after_ms, position};
use crate::error::{ApiError, Code};
use crate::limits::{IpLimit, UserLimit};
use crate::state::AppState;
use crate::store::postgres::fairness::PreJoin;
use crate::store::{JoinOutcome, Placement, Presence};

/// The `seq` of a pre-queue token: its place is drawn at the opening.
pub const PRE_QUEUE_SEQ: i64 = 0;

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
/// Longest a pre-queued fan is told to wait before polling again.
const PRE_QUEUE_POLL_MAX_MS: u64 = 30_000;
/// Spreads the pre-queue's polls after the opening over this long.
const PRE_QUEUE_JITTER_MS: u64 = 2_000;

#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    /// Joined before the show's fair opening: the place is drawn at `opens_at`.
    PreQueue,
    Waiting,
    Active,
    Expired,
}

/// Where a user stands in a show's queue.
#[derive(Serialize, ToSchema, Debug)]
pub struct Standing {
    pub status: QueueStatus,
    /// 1 for the next user to be admitted; 0 once admitted; null in the pre-queue. Never
    /// goes up while waiting.
    pub position: Option<u64>,
    /// Users ahead: `position - 1` while waiting; null in the pre-queue.
    pub ahead: Option<u64>,
    /// Seconds until admission at the measured rate; null until the rate is known.
    pub eta_seconds: Option<u64>,
    /// Wait this long before polling again.
    pub poll_after_ms: u64,
    /// When the active session ends (null unless active).
    pub active_until: Option<DateTime<Utc>>,
    /// A fresh queue token, when the place changed hands: after the draw, a pre-queue
    /// token's answer carries the token of the drawn place (with `seq` and `draw`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_token: Option<String>,
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
        position: Some(position),
        ahead: Some(position - 1),
        eta_seconds: eta,
        poll_after_ms: poll_after_ms(position, eta, rand::random()),
        active_until: None,
        queue_token: None,
    }
}

fn active(until_ms: i64) -> Standing {
    Standing {
        status: QueueStatus::Active,
        position: Some(0),
        ahead: Some(0),
        eta_seconds: Some(0),
        poll_after_ms: ACTIVE_POLL_MS,
        active_until: Some(super::from_millis(until_ms)),
        queue_token: None,
    }
}

fn expired() -> Standing {
    Standing {
        status: QueueStatus::Expired,
        position: Some(0),
        ahead: Some(0),
        eta_seconds: None,
        poll_after_ms: 0,
        active_until: None,
        queue_token: None,
    }
}

/// In the pre-queue: come back shortly after the opening (the draw takes a moment).
fn pre_queued(ms_to_opening: i64) -> Standing {
    let jitter = rand::random_range(0..PRE_QUEUE_JITTER_MS);
    Standing {
        status: QueueStatus::PreQueue,
        position: None,
        ahead: None,
        eta_seconds: None,
        poll_after_ms: (ms_to_opening.max(0) as u64 + 500 + jitter).min(PRE_QUEUE_POLL_MAX_MS),
        active_until: None,
        queue_token: None,
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
    state.limit_user(UserLimit::Joins, user)?;
    state.limit_ip(IpLimit::Joins, &req)?;
    // A queue token of this show proves a join: no proof of work again.
    match auth.0.seq.filter(|_| auth.0.show == Some(show)) {
        // A place the store lost comes back first, so joining again finds it.
        Some(seq) if seq != PRE_QUEUE_SEQ => {
            state.switch.presence_with_proof(show, user, seq).await?;
        }
        Some(_) => {}
        None => super::pow::check(&state, show, user, body.pow.as_ref()).await?,
    }
    if let Some(pre_queued) = pre_queue_join(&state, show, user).await? {
        return Ok(pre_queued);
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

/// A join of a show whose fair opening is ahead goes to the pre-queue; the first join at
/// the opening closes the pre-queue before it takes a place behind it.
async fn pre_queue_join(state: &AppState, show: ShowId, user: Uuid) -> Result<Option<HttpResponse>, ApiError> {
    let Some(opens_at) = opening(state, show).await? else { return Ok(None) };
    match state.db.pre_join(show, user, state.redis.clock.injected()).await? {
        PreJoin::PreQueued { created } => {
            let ms_to_opening = opens_at.timestamp_millis() - state.redis.clock.estimate_ms();
            let body = Joined {
                queue_token: state.tokens.issue_queue(user, show, PRE_QUEUE_SEQ).token,
                seq: PRE_QUEUE_SEQ,
                standing: pre_queued(ms_to_opening),
            };
            Ok(Some(super::json_status(created, &body)))
        }
        // At the opening (or after another instance closed the pre-queue): closing is
        // idempotent, and it makes this instance learn the hole latecomers queue behind.
        PreJoin::Due | PreJoin::Open => match state.close_pre_queue(show).await? {
            true => Ok(None),
            // Never a place before the pre-queue's: they come first.
            false => Err(ApiError::unavailable("the queue is opening; try again in a moment")),
        },
        PreJoin::Drawn => {
            state.openings.mark_drawn(show);
            state.cursors.set_show_holes(show, state.queue.holes(show).await?);
            Ok(None)
        }
    }
}

/// The show's fair opening, while it isn't known to be drawn.
async fn opening(state: &AppState, show: ShowId) -> Result<Option<DateTime<Utc>>, ApiError> {
    if state.openings.is_drawn(show) {
        return Ok(None);
    }
    Ok(state.queue_configs.get(&state.db, show).await?.and_then(|config| config.opens_at))
}

/// Where a pre-queue token's holder stands: before the opening the token is proof enough;
/// after it, the draw's place (with a fresh token for it), or still the pre-queue while the
/// draw runs, or expired (they left it). What this instance knows of the draw spares the
/// pre-queued fans' polls a Postgres query each while it runs.
async fn pre_queue_standing(state: &AppState, auth: &QueueAuth) -> Result<Standing, ApiError> {
    let now = state.redis.clock.estimate_ms();
    let opens_at = state.queue_configs.get(&state.db, auth.show).await?.and_then(|config| config.opens_at);
    if let Some(opens_at) = opens_at
        && now < opens_at.timestamp_millis()
    {
        return Ok(pre_queued(opens_at.timestamp_millis() - now));
    }
    if let Some(seq) = state.queue.place_of(auth.show, auth.user).await? {
        let drawn = QueueAuth { seq, ..auth.clone() };
        let mut standing = Box::pin(standing_now(state, &drawn)).await?;
        standing.queue_token = Some(state.drawn_token(auth.show, auth.user, seq).await?);
        return Ok(standing);
    }
    let pre_queued_now = match (state.openings.is_drawn(auth.show), state.openings.is_closed(auth.show)) {
        (true, _) => false,
        (false, true) => true,
        (false, false) => state.db.in_pre_queue(auth.show, auth.user).await?,
    };
    Ok(if pre_queued_now { pre_queued(0) } else { expired() })
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
    if auth.seq == PRE_QUEUE_SEQ {
        return pre_queue_standing(state, auth).await;
    }
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
    responses((status = 204), (status = 404, body = crate::error::ErrorBody, description = "`not_in_queue`"),
              (status = 503, body = crate::error::ErrorBody, description = "`unavailable`: among others, a pre-queued fan leaving while the pre-queue is drawn; leave again after Retry-After")))]
pub async fn leave_queue(auth: QueueAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.redis.clock.injected();
    if auth.seq == PRE_QUEUE_SEQ && state.db.leave_pre_queue(auth.show, auth.user, now).await? {
        return Ok(HttpResponse::NoContent().finish());
    }
    if state.queue.leave(auth.show, auth.user).await? {
        return Ok(HttpResponse::NoContent().finish());
    }
    if auth.seq == PRE_QUEUE_SEQ
        && !state.openings.is_drawn(auth.show)
        && state.db.in_pre_queue(auth.show, auth.user).await?
    {
        // Closed, but the fan's drawn place is not given yet.
        return Err(ApiError::unavailable("the pre-queue is being drawn; leave again in a moment"));
    }
    Err(ApiError::new(Code::NotInQueue, "you are neither waiting nor active in this show"))
}
