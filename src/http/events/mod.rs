//! Server-sent events: a waiting fan's place and a buyer's seat map, pushed.
//!
//! Each stream is a future that actix polls when the client can take more bytes, so a slow
//! client holds no buffer of ours: it reads the latest state when it is ready (see
//! [`crate::push`]).

pub(super) mod queue_stream;
pub(super) mod seat_stream;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::Stream;
use tokio::time::Instant;

use crate::error::{ApiError, Code};
use crate::push::sse::{self, StreamGuard, StreamKind};
use crate::state::AppState;

/// How often a stream checks that an active fan still is (the session can end early: a
/// purchase or a leave gives the slot back).
const ACTIVE_CHECK: std::time::Duration = std::time::Duration::from_secs(15);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/shows/{show_id}/queue/events").route(web::get().to(queue_stream::queue_events)))
        .service(super::resource("/v1/shows/{show_id}/seats/events").route(web::get().to(seat_stream::seat_events)));
}

/// One event of a queue stream, as an SSE client reads it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "only describes the stream in the OpenAPI document")]
pub struct QueueStreamEvent {
    /// `position`, `active` or `expired`.
    #[schema(pattern = "^(position|active|expired)$")]
    event: String,
    /// A decimal number; send the last one as `Last-Event-ID` when reconnecting.
    id: Option<String>,
    /// One line of JSON: a `PositionEvent`, an `ActiveEvent`, or `{}`.
    data: String,
}

/// One event of a seat stream, as an SSE client reads it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "only describes the stream in the OpenAPI document")]
pub struct SeatStreamEvent {
    /// `snapshot`, `seats` or `expired`.
    #[schema(pattern = "^(snapshot|seats|expired)$")]
    event: String,
    /// A decimal number; send the last one as `Last-Event-ID` when reconnecting.
    id: Option<String>,
    /// One line of JSON: a `SeatList`, a `SeatDelta`, or `{}`.
    data: String,
}

/// What every stream starts with: its slot (or 503 when this instance has as many streams
/// as it takes) and when its first keep-alive is due. A stream resumed with `Last-Event-ID`
/// starts with the current state anyway (a position, or a seat snapshot), so the id is only
/// checked: garbage is a 400.
struct Start {
    slot: StreamGuard,
    now: Instant,
    keep_alive_at: Instant,
}

fn start(req: &HttpRequest, state: &AppState, kind: StreamKind) -> Result<Start, ApiError> {
    if let Some(value) = req.headers().get("Last-Event-ID")
        && sse::parse_event_id(value.as_bytes()).is_none()
    {
        return Err(ApiError::new(
            Code::InvalidLastEventId,
            "Last-Event-ID must be the id of an event these streams sent (a number)",
        ));
    }
    let slot = state.push.streams.open(kind).ok_or_else(|| {
        ApiError::new(
            Code::TooManyStreams,
            "this instance has all the event streams it takes open; poll instead, or retry",
        )
    })?;
    let now = Instant::now();
    Ok(Start { slot, now, keep_alive_at: now + state.push.keep_alive })
}

/// Anything that yields the next frame, until it has nothing more to say.
trait EventSource: Sized + 'static {
    async fn next_frame(&mut self) -> Option<Bytes>;

    fn into_response(self) -> HttpResponse {
        let frames = futures::stream::unfold(self, |mut source| async move {
            let frame = source.next_frame().await?;
            Some((Ok::<_, std::convert::Infallible>(frame), source))
        });
        event_stream(frames)
    }
}

fn event_stream(frames: impl Stream<Item = Result<Bytes, std::convert::Infallible>> + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx-like proxies not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(frames)
}
