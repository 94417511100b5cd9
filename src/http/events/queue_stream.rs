//! `GET /v1/shows/{id}/queue/events`: a fan's place, pushed as it changes.
//!
//! While the fan waits, the stream wakes on the show's cursor (no store call) and says the
//! new position at most once a second. Once the cursor reaches the fan's `seq`, it asks the
//! store once: active (said at once), or expired (said, and the stream ends). An active fan's
//! stream checks again when the session should end, and at least every keep-alive.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use utoipa::ToSchema;

use super::{ACTIVE_CHECK, EventSource};
use crate::auth::QueueAuth;
use crate::error::ApiError;
use crate::push::sse::{self, StreamGuard, StreamKind};
use crate::sale::{QueueStatus, Standing};
use crate::state::AppState;

/// At most one position event per client in this long.
const COALESCE: Duration = Duration::from_secs(1);
/// How soon the store is asked again after it could not answer.
const RETRY: Duration = Duration::from_secs(1);

/// The `data` of a `position` event.
#[derive(Serialize, ToSchema)]
pub struct PositionEvent {
    /// `waiting`, or `pre_queue` (position and ahead null) until the fair opening's draw.
    pub status: QueueStatus,
    pub position: Option<u64>,
    pub ahead: Option<u64>,
    pub eta_seconds: Option<u64>,
}

/// The `data` of an `active` event.
#[derive(Serialize, ToSchema)]
pub struct ActiveEvent {
    pub active_until: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    /// In the pre-queue (told so or not yet) until the draw.
    PreQueue(bool),
    /// Waiting; the position last sent.
    Waiting(Option<u64>),
    /// Active until this time (ms, the store's clock).
    Active(i64),
    Ended,
}

struct QueueEvents {
    state: Arc<AppState>,
    auth: QueueAuth,
    cursor: watch::Receiver<i64>,
    /// Turns true when the show's draw is done (for a pre-queued fan).
    drawn: watch::Receiver<bool>,
    phase: Phase,
    first: Option<Standing>,
    sent_at: Instant,
    ask_at: Instant,
    keep_alive_at: Instant,
    _slot: StreamGuard,
}

/// My place in the queue, pushed: `position` at once and as it changes (at most once a
/// second), `active` as soon as I'm admitted, `expired` when the place or session lapsed
/// (then the stream ends), and a `: keep-alive` comment at least every 15 s. The token may
/// come as `?access_token=` (browsers' EventSource can't send headers).
#[utoipa::path(get, path = "/v1/shows/{show_id}/queue/events", tag = "queue", security(("bearer" = [])),
    params(("show_id" = i64, Path), ("access_token" = Option<String>, Query, description = "the queue token, for clients that can't send headers"),
           ("Last-Event-ID" = Option<String>, Header, nullable = false, description = "the id of the last event received; the stream starts with the current state", pattern = "^[0-9]{1,19}$")),
    responses(
        (status = 200, content_type = "text/event-stream", body = super::QueueStreamEvent,
         description = "events `position` (PositionEvent), `active` (ActiveEvent), `expired` ({}), each with an `id:` and one JSON `data:` line"),
        (status = 400, body = crate::error::ErrorBody, description = "`invalid_last_event_id`"),
        (status = 403, body = crate::error::ErrorBody, description = "`wrong_show` (a token for another show) or `queue_token_required`"),
        (status = 503, body = crate::error::ErrorBody, description = "`too_many_streams`: poll instead, or retry after Retry-After; `unavailable`: the stores can't say where the fan stands yet")))]
pub async fn queue_events(
    req: HttpRequest,
    auth: QueueAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let start = super::start(&req, &state, StreamKind::Queue)?;
    let first = state.sale.standing(auth.show, auth.user, auth.seq).await?;
    let events = QueueEvents {
        cursor: state.sale.watch_cursor(auth.show),
        drawn: state.sale.watch_draw(auth.show),
        state: state.into_inner(),
        auth,
        phase: Phase::Waiting(None),
        first: Some(first),
        sent_at: start.now,
        ask_at: start.now,
        keep_alive_at: start.keep_alive_at,
        _slot: start.slot,
    };
    Ok(events.into_response())
}

impl EventSource for QueueEvents {
    async fn next_frame(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return self.report(first, Instant::now());
        }
        loop {
            if self.phase == Phase::Ended {
                return None;
            }
            let now = Instant::now();
            let wake = match self.step(now).await {
                Ok(frame) => return Some(frame),
                Err(wake) => wake,
            };
            if now >= self.keep_alive_at {
                self.keep_alive_at = now + self.state.push.keep_alive;
                return Some(sse::keep_alive());
            }
            let (waiting, pre_queued) =
                (matches!(self.phase, Phase::Waiting(_)), matches!(self.phase, Phase::PreQueue(_)));
            tokio::select! {
                moved = self.cursor.changed(), if waiting => {
                    if moved.is_err() {
                        tokio::time::sleep(RETRY).await;
                    }
                }
                drawn = self.drawn.changed(), if pre_queued => {
                    if drawn.is_ok() {
                        self.ask_at = Instant::now();
                    }
                }
                () = tokio::time::sleep_until(wake.min(self.keep_alive_at)) => {}
            }
        }
    }
}

impl QueueEvents {
    /// The next frame if one is due now, else when to look again.
    async fn step(&mut self, now: Instant) -> Result<Bytes, Instant> {
        let far = now + self.state.push.keep_alive;
        match self.phase {
            Phase::Waiting(sent) => {
                let cursor = *self.cursor.borrow_and_update();
                match self.state.sale.position(self.auth.show, self.auth.seq, cursor) {
                    Some(place) if Some(place) == sent => Err(far),
                    Some(_) if now < self.sent_at + COALESCE => Err(self.sent_at + COALESCE),
                    Some(_) => {
                        let standing = self.state.sale.waiting(self.auth.show, self.auth.seq, cursor);
                        self.report(standing, now).ok_or(far)
                    }
                    None if now < self.ask_at => Err(self.ask_at),
                    None => self.ask(now).await,
                }
            }
            Phase::PreQueue(_) | Phase::Active(_) if now < self.ask_at => Err(self.ask_at),
            Phase::PreQueue(_) | Phase::Active(_) => self.ask(now).await,
            Phase::Ended => Err(far),
        }
    }

    /// Asks the store where the fan stands (the cursor has reached them).
    async fn ask(&mut self, now: Instant) -> Result<Bytes, Instant> {
        self.ask_at = now + RETRY;
        let standing =
            self.state.sale.standing(self.auth.show, self.auth.user, self.auth.seq).await.map_err(|_| self.ask_at)?;
        self.report(standing, now).ok_or(self.ask_at)
    }

    /// The event for a standing, if it says something the client wasn't told yet.
    fn report(&mut self, standing: Standing, now: Instant) -> Option<Bytes> {
        let id = (*self.cursor.borrow()).max(0) as u64;
        if let Some(claims) = standing.queue_token.as_deref().and_then(|token| self.state.tokens.verify(token).ok()) {
            // The draw gave the pre-queued fan this place: follow it from now on.
            self.auth.seq = claims.seq.unwrap_or(self.auth.seq);
        }
        match standing.status {
            QueueStatus::PreQueue => {
                self.ask_at = now + Duration::from_millis(standing.poll_after_ms);
                if self.phase == Phase::PreQueue(true) {
                    return None;
                }
                self.phase = Phase::PreQueue(true);
                let event =
                    PositionEvent { status: QueueStatus::PreQueue, position: None, ahead: None, eta_seconds: None };
                Some(sse::event("position", id, &event))
            }
            QueueStatus::Waiting => {
                let position = standing.position.unwrap_or(1);
                if self.phase == Phase::Waiting(Some(position)) {
                    return None;
                }
                self.phase = Phase::Waiting(Some(position));
                self.sent_at = now;
                let event = PositionEvent {
                    status: QueueStatus::Waiting,
                    position: standing.position,
                    ahead: standing.ahead,
                    eta_seconds: standing.eta_seconds,
                };
                Some(sse::event("position", id, &event))
            }
            QueueStatus::Active => {
                let until = standing.active_until.map_or(0, |until| until.timestamp_millis());
                let left = until.saturating_sub(self.state.sale.now_ms()).max(100) as u64;
                self.ask_at = now + Duration::from_millis(left).min(ACTIVE_CHECK);
                if self.phase == Phase::Active(until) {
                    return None;
                }
                self.phase = Phase::Active(until);
                Some(sse::event("active", id, &ActiveEvent { active_until: standing.active_until }))
            }
            QueueStatus::Expired => {
                self.phase = Phase::Ended;
                Some(sse::event("expired", id, &serde_json::json!({})))
            }
        }
    }
}
