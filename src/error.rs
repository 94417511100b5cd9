//! The one API error type. Handlers say what went wrong; `ApiError::status` is the only
//! place that decides the HTTP status, and every error leaves as
//! `{"error": {"code", "message", ...}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

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
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    Unavailable,
    Internal,
}

#[derive(Debug)]
pub struct ApiError {
    kind: Kind,
    code: &'static str,
    message: String,
    seat_ids: Option<Vec<i64>>,
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
    pub seat_ids: Option<Vec<i64>>,
}

impl ApiError {
    pub fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        Self { kind, code, message: message.into(), seat_ids: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Kind::Unauthorized, "unauthorized", message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, "not_found", message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, code, message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Unprocessable, code, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Kind::Unavailable, "unavailable", message)
    }
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(Kind::Internal, "internal", "something went wrong on our side")
    }

    pub fn with_seat_ids(mut self, seat_ids: Vec<i64>) -> Self {
        self.seat_ids = Some(seat_ids);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                seat_ids: self.seat_ids.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.kind {
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.kind == Kind::Unavailable {
            response.insert_header(("Retry-After", RETRY_AFTER_S.to_string()));
        }
        if self.kind == Kind::Unauthorized {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(self.body())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(what) => ApiError::conflict("conflict", what),
            // Logged where it is handled: the switch logs a change of backend once, not one
            // line per request answered 503 meanwhile.
            StoreError::Unavailable(what) | StoreError::Unsent(what) => {
                tracing::debug!(backend_error = %what, "backing store unavailable");
                ApiError::unavailable("the service is busy or a backing store is unreachable; retry shortly")
            }
            StoreError::ModeChanged => ApiError::unavailable("the service is switching backing stores; retry shortly"),
            StoreError::ShowNotLoaded(show) => {
                ApiError::internal(format!("show {show} still not loaded after a reload"))
            }
            StoreError::Internal(error) => ApiError::internal(error),
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
            rendered(ApiError::conflict("seat_unavailable", "taken").with_seat_ids(vec![3, 4])).await;
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
