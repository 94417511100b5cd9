//! Anonymous user identities.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::limits::IpLimit;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/tokens").route(web::post().to(issue_token)));
}

#[derive(Serialize, ToSchema)]
pub struct TokenIssued {
    /// A user JWT: send it as `Authorization: Bearer <token>` to join a queue.
    pub token: String,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Issue an anonymous user identity.
///
/// The body is optional; when sent it must be a JSON object (`{}`) or `null`.
#[utoipa::path(post, path = "/v1/tokens", tag = "users",
    request_body(content = Option<Object>, description = "optional, `{}`", content_type = "application/json"),
    responses(
        (status = 201, body = TokenIssued),
        (status = 400, body = crate::error::ErrorBody, description = "the body is not a JSON object"),
        (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody, description = "`rate_limited`: too many identities from this address; see Retry-After")))]
pub async fn issue_token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::optional_object(&req, &body)?;
    state.limit_ip(IpLimit::Tokens, &req)?;
    let (user_id, issued) = state.tokens.issue_user();
    metrics::counter!("boxoffice_tokens_issued_total").increment(1);
    Ok(HttpResponse::Created().json(TokenIssued { token: issued.token, user_id, expires_at: issued.expires_at }))
}
