//! The one API error type. Handlers say what went wrong with a [`Code`] from the registry
//! below, which is the only place that gives a code its HTTP status, and every error leaves
//! as `{"error": {"code", "message", ...}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::SeatId;
use crate::store::StoreError;

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_S: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Gone,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    TooManyRequests,
    Unavailable,
    Internal,
}

/// The registry of error codes: each one's kind (so its status) and what it means.
macro_rules! codes {
    ($($name:ident => ($code:literal, $kind:ident, $meaning:literal)),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $($name),* }

        impl Code {
            pub const ALL: &[Code] = &[$(Code::$name),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $code),* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Code::$name => Kind::$kind),* }
            }

            /// What it means, for the API's documentation.
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$name => $meaning),* }
            }
        }
    };
}

codes! {
    BadRequest => ("bad_request", BadRequest, "a request the server cannot read"),
    MalformedJson => ("malformed_json", BadRequest, "the body is not JSON"),
    InvalidBody => ("invalid_body", BadRequest, "the body is JSON, but not what the operation takes"),
    InvalidQuery => ("invalid_query", BadRequest, "the query string is not what the operation takes"),
    InvalidLastEventId => ("invalid_last_event_id", BadRequest, "Last-Event-ID is not the id of an event (a number)"),
    InvalidIdempotencyKey => ("invalid_idempotency_key", BadRequest, "Idempotency-Key is empty, too long or not printable ASCII"),
    Unauthorized => ("unauthorized", Unauthorized, "no token, or one that is malformed, expired or forged"),
    Forbidden => ("forbidden", Forbidden, "this needs an admin token"),
    QueueTokenRequired => ("queue_token_required", Forbidden, "this needs the queue token the join gave"),
    WrongShow => ("wrong_show", Forbidden, "the queue token belongs to another show"),
    NotActive => ("not_active", Forbidden, "not in the show's active set (still waiting, or the session ended)"),
    NotFound => ("not_found", NotFound, "no such thing (or the id is not a number)"),
    NotInQueue => ("not_in_queue", NotFound, "neither waiting nor active in this show"),
    HoldNotFound => ("hold_not_found", NotFound, "no such seat held by you"),
    MethodNotAllowed => ("method_not_allowed", MethodNotAllowed, "the path doesn't take this method (see Allow)"),
    Conflict => ("conflict", Conflict, "the request conflicts with what exists"),
    OpeningFixed => ("opening_fixed", Conflict, "the fair opening has come (or its pre-queue closed): it can't be moved"),
    QueueStarted => ("queue_started", Conflict, "people joined this show's queue already: a fair opening must be set before"),
    LanesFixed => ("lanes_fixed", Conflict, "people joined this show's queue already: its lanes must be set before"),
    QueueClosed => ("queue_closed", Conflict, "the queue is paused and takes nobody new"),
    NotOnSaleYet => ("not_on_sale_yet", Conflict, "the sale is scheduled: joining opens at the show's on_sale_at"),
    SaleClosed => ("sale_closed", Conflict, "the sale is closed: nobody new joins (those in line go on)"),
    SoldOut => ("sold_out", Conflict, "every seat of the show is sold"),
    ShowEnded => ("show_ended", Gone, "the show's sale has ended: its queue and tokens are no more"),
    SeatUnavailable => ("seat_unavailable", Conflict, "seats held by someone else or sold; nothing was held"),
    HoldMissing => ("hold_missing", Conflict, "seats not held by you; nothing was bought"),
    SeatSold => ("seat_sold", Conflict, "seats sold already; nothing was bought"),
    PayloadTooLarge => ("payload_too_large", PayloadTooLarge, "the body is over 64 KiB"),
    UnsupportedMediaType => ("unsupported_media_type", UnsupportedMediaType, "the body is not application/json"),
    InvalidSeats => ("invalid_seats", Unprocessable, "seat ids empty, repeated, unknown or too many"),
    TooManySeats => ("too_many_seats", Unprocessable, "over the per-user limit of held seats"),
    IdempotencyKeyReused => ("idempotency_key_reused", Unprocessable, "the Idempotency-Key was used for another request"),
    InvalidTitle => ("invalid_title", Unprocessable, "a concert title must be 1 to 200 printable characters"),
    InvalidSections => ("invalid_sections", Unprocessable, "the sections don't make a valid seat map"),
    InvalidStartsAt => ("invalid_starts_at", Unprocessable, "a show must start in the future"),
    PowInvalid => ("pow_invalid", Unprocessable, "the proof of work is missing, wrong, expired, used already or another user's"),
    InvalidConfig => ("invalid_config", Unprocessable, "queue settings out of range"),
    Unavailable => ("unavailable", Unavailable, "a backing store is unreachable or busy; retry after Retry-After"),
    RateLimited => ("rate_limited", TooManyRequests, "too many requests from this address or user; retry after Retry-After"),
    TooManyStreams => ("too_many_streams", Unavailable, "this instance has all the event streams it takes open; retry after Retry-After or poll"),
    Internal => ("internal", Internal, "something went wrong on the server's side"),
}

#[derive(Debug)]
pub struct ApiError {
    code: Code,
    message: String,
    seat_ids: Option<Vec<SeatId>>,
    /// Seconds for `Retry-After`, where the default of its kind won't do.
    retry_after_s: Option<u64>,
    /// What went wrong inside, for the log line of a 5xx (never sent to the client).
    cause: Option<String>,
}

/// The JSON error body of every 4xx and 5xx answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `not_found`, `queue_closed`, `seat_unavailable`.
    pub code: String,
    pub message: String,
    /// The seats a conflict or validation error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat_ids: Option<Vec<SeatId>>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), seat_ids: None, retry_after_s: None, cause: None }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthorized, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, message)
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(Code::UnsupportedMediaType, "send the body as application/json")
    }
    /// A 500; the cause is logged once, when the answer goes out.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(Code::Internal, "something went wrong on our side").because(error)
    }

    fn because(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// 429 `rate_limited`: come back after `wait` (rounded up to whole seconds).
    pub fn rate_limited(limit: &str, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut error = Self::new(Code::RateLimited, format!("too many requests ({limit}); retry in {seconds} s"));
        error.retry_after_s = Some(seconds.max(1));
        error
    }

    pub fn with_seat_ids(mut self, seat_ids: Vec<SeatId>) -> Self {
        self.seat_ids = Some(seat_ids);
        self
    }

    fn kind(&self) -> Kind {
        self.code.kind()
    }

    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.message.clone(),
                seat_ids: self.seat_ids.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.kind() {
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Gone => StatusCode::GONE,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one place an error is logged: where it is answered, inside the request's span.
    fn error_response(&self) -> HttpResponse {
        match (self.kind(), &self.cause) {
            (Kind::Internal, cause) => tracing::error!(code = self.code(), cause = cause.as_deref(), "answered 500"),
            (Kind::Unavailable, Some(cause)) => tracing::debug!(code = self.code(), cause, "answered 503"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match (self.retry_after_s, self.kind()) {
            (Some(seconds), _) => {
                response.insert_header(("Retry-After", seconds.to_string()));
            }
            (None, Kind::Unavailable) => {
                response.insert_header(("Retry-After", RETRY_AFTER_S.to_string()));
            }
            _ => {}
        }
        if self.kind() == Kind::Unauthorized {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(self.body())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(constraint) => ApiError::new(Code::Conflict, format!("{constraint:?}")),
            // Logged at debug when answered: the backend logs a change of backend once, not
            // one line per request answered 503 meanwhile.
            StoreError::Unavailable(what) | StoreError::Unsent(what) => {
                ApiError::unavailable("the service is busy or a backing store is unreachable; retry shortly")
                    .because(what)
            }
            StoreError::ModeChanged => ApiError::unavailable("the service is switching backing stores; retry shortly"),
            StoreError::LayoutChanged(_) => ApiError::unavailable("the show's queue is being laid out; retry shortly"),
            StoreError::ShowNotLoaded(show) => {
                ApiError::internal(format!("show {show} still not loaded after a reload"))
            }
            StoreError::Internal(error) => ApiError::internal(error),
            other @ (StoreError::NoStreamGroup | StoreError::StreamGroupExists) => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn rendered(error: ApiError) -> (StatusCode, serde_json::Value, Option<String>) {
        let response = error.error_response();
        let status = response.status();
        let retry = response.headers().get("Retry-After").map(|v| v.to_str().unwrap().to_string());
        let body = to_bytes(response.into_body()).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap(), retry)
    }

    #[actix_web::test]
    async fn a_conflict_carries_its_code_message_and_seats() {
        let (status, body, _) =
            rendered(ApiError::new(Code::SeatUnavailable, "taken").with_seat_ids(vec![SeatId(3), SeatId(4)])).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"]["code"], "seat_unavailable");
        assert_eq!(body["error"]["message"], "taken");
        assert_eq!(body["error"]["seat_ids"], serde_json::json!([3, 4]));
    }

    #[actix_web::test]
    async fn an_unavailable_store_is_a_503_with_retry_after() {
        let (status, body, retry) = rendered(StoreError::Unavailable("redis timed out".into()).into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "unavailable");
        assert_eq!(retry.as_deref(), Some("2"));
    }

    #[actix_web::test]
    async fn internal_errors_hide_their_cause() {
        let (status, body, _) = rendered(ApiError::internal("password=hunter2 leaked")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("hunter2"));
    }
}
