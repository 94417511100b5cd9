//! `GET /v1/shows/{id}/seats/events`: the seat map, then its changes, pushed.
//!
//! The stream subscribes to this instance's board of the show before it reads the snapshot,
//! so no change falls between the two (a change both in the snapshot and in a delta is
//! said twice, which changes nothing on the client). A client that falls behind the board's
//! backlog is sent a fresh snapshot instead of the deltas it missed.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use super::{ACTIVE_CHECK, EventSource};
use crate::auth::QueueAuth;
use crate::error::ApiError;
use crate::push::seats::{SeatBoard, SeatDelta};
use crate::push::sse::{self, StreamGuard, StreamKind};
use crate::state::AppState;

/// How soon a snapshot is tried again after the store could not give one.
const RETRY: Duration = Duration::from_secs(1);

struct SeatEvents {
    state: Arc<AppState>,
    auth: QueueAuth,
    board: Arc<SeatBoard>,
    deltas: Receiver<Arc<SeatDelta>>,
    snapshot_due: bool,
    ended: bool,
    keep_alive_at: Instant,
    /// When to check that the fan is still active (the stream ends with `expired` if not).
    check_at: Instant,
    _slot: StreamGuard,
}

/// The seat map, pushed: `snapshot` first (the body of `GET .../seats`), then `seats`
/// deltas `{"held", "released", "sold"}` within a second of each change on any instance;
/// `expired` when the session ends. The token may come as `?access_token=`.
#[utoipa::path(get, path = "/v1/shows/{show_id}/seats/events", tag = "seats", security(("bearer" = [])),
    params(("show_id" = i64, Path), ("access_token" = Option<String>, Query, description = "the queue token, for clients that can't send headers"),
           ("Last-Event-ID" = Option<String>, Header, nullable = false, description = "the id of the last event received; the stream starts with a snapshot anyway", pattern = "^[0-9]{1,19}$")),
    responses(
        (status = 200, content_type = "text/event-stream", body = super::SeatStreamEvent,
         description = "events `snapshot` (SeatList), `seats` (SeatDelta), `expired` ({}), each with an `id:` and one JSON `data:` line"),
        (status = 400, body = crate::error::ErrorBody, description = "`invalid_last_event_id`"),
        (status = 403, body = crate::error::ErrorBody, description = "`not_active`, `wrong_show` or `queue_token_required`"),
        (status = 503, body = crate::error::ErrorBody, description = "`too_many_streams`: poll instead, or retry after Retry-After; `unavailable`: the stores can't say whether the fan is active yet")))]
pub async fn seat_events(
    req: HttpRequest,
    auth: QueueAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.sale.ensure_active(auth.show, auth.user).await?;
    let start = super::start(&req, &state, StreamKind::Seats)?;
    let board = state.push.seats.get_or_create(auth.show);
    let events = SeatEvents {
        deltas: board.subscribe(),
        board,
        state: state.into_inner(),
        auth,
        snapshot_due: true,
        ended: false,
        keep_alive_at: start.keep_alive_at,
        check_at: start.now + ACTIVE_CHECK,
        _slot: start.slot,
    };
    Ok(events.into_response())
}

impl EventSource for SeatEvents {
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if self.ended {
                return None;
            }
            if self.snapshot_due {
                match self.state.sale.seat_list(self.auth.show).await {
                    Ok(list) => {
                        self.snapshot_due = false;
                        return Some(sse::event("snapshot", self.board.version(), &list));
                    }
                    Err(_) => tokio::time::sleep(RETRY).await,
                }
                continue;
            }
            tokio::select! {
                received = self.deltas.recv() => match received {
                    Ok(delta) => return Some(self.merged(&delta)),
                    Err(RecvError::Lagged(_)) => self.fell_behind(),
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(self.keep_alive_at.min(self.check_at)) => {
                    if let Some(frame) = self.timers().await {
                        return Some(frame);
                    }
                }
            }
        }
    }
}

impl SeatEvents {
    /// This delta and every other one already waiting, as one event.
    fn merged(&mut self, first: &SeatDelta) -> Bytes {
        let mut delta = first.clone();
        loop {
            match self.deltas.try_recv() {
                Ok(next) => delta.then(&next),
                Err(TryRecvError::Lagged(_)) => self.fell_behind(),
                Err(_) => break,
            }
        }
        sse::event("seats", self.board.version(), &delta)
    }

    fn fell_behind(&mut self) {
        metrics::counter!("boxoffice_sse_resyncs_total", "reason" => "lagged").increment(1);
        self.snapshot_due = true;
    }

    async fn timers(&mut self) -> Option<Bytes> {
        let now = Instant::now();
        if now >= self.check_at {
            self.check_at = now + ACTIVE_CHECK;
            if let Err(error) = self.state.sale.ensure_active(self.auth.show, self.auth.user).await
                && error.code() == "not_active"
            {
                self.ended = true;
                return Some(sse::event("expired", self.board.version(), &serde_json::json!({})));
            }
        }
        if now >= self.keep_alive_at {
            self.keep_alive_at = now + self.state.push.keep_alive;
            return Some(sse::keep_alive());
        }
        None
    }
}
