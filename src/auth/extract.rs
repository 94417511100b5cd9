//! Request extractors: a handler that takes `QueueAuth` only runs for a valid queue token of
//! the show in its path. Missing, malformed, expired or forged tokens are 401; a valid token
//! of the wrong kind or for another show is 403; one of a show whose sale ended is 410.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use uuid::Uuid;

use super::{Claims, Role, Tokens};
use crate::domain::ShowId;
use crate::error::{ApiError, Code};

/// Any valid token: a user, queue or admin token.
#[derive(Debug, Clone)]
pub struct AnyAuth(pub Claims);

/// A queue token for the show named in the path (`{show_id}`).
#[derive(Debug, Clone)]
pub struct QueueAuth {
    pub user: Uuid,
    pub show: ShowId,
    pub seq: i64,
}

/// An admin token.
#[derive(Debug, Clone)]
pub struct AdminAuth(pub Claims);

fn bearer_claims(req: &HttpRequest) -> Result<Claims, ApiError> {
    let Some(tokens) = req.app_data::<web::Data<Tokens>>() else {
        return Err(ApiError::internal("the token keys are not registered with the server"));
    };
    let token = match req.headers().get(actix_web::http::header::AUTHORIZATION) {
        Some(header) => header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))?,
        None => {
            query_token(req).ok_or_else(|| ApiError::unauthorized("send a token as 'Authorization: Bearer <token>'"))?
        }
    };
    let claims = tokens.verify(&token).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        let why = match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => "the token's signature is not valid",
            _ => "the token is malformed or not valid",
        };
        ApiError::unauthorized(why)
    })?;
    name_in_span(req, &claims);
    Ok(claims)
}

/// The request's span (see `app::record_request`) says whose request it is and which show it
/// is about, so every log line and store call under it does too (never the token).
fn name_in_span(req: &HttpRequest, claims: &Claims) {
    let span = tracing::Span::current();
    span.record("user", tracing::field::display(claims.sub));
    if let Some(show) = req.match_info().get("show_id") {
        span.record("show", tracing::field::display(show));
    }
}

/// Browsers' `EventSource` can't send headers, so event streams (and only they: elsewhere a
/// token in the URL would end up in logs and histories) also take `?access_token=`.
fn query_token(req: &HttpRequest) -> Option<String> {
    if !req.path().ends_with("/events") {
        return None;
    }
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string()).ok()?;
    query.into_inner().remove("access_token").filter(|t| !t.is_empty())
}

fn path_show(req: &HttpRequest) -> Result<ShowId, ApiError> {
    let raw = req.match_info().get("show_id").unwrap_or_default();
    raw.parse().map_err(|_| ApiError::not_found(format!("no show with id {raw:?}")))
}

impl FromRequest for AnyAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(bearer_claims(req).map(AnyAuth))
    }
}

impl FromRequest for QueueAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let claims = bearer_claims(req)?;
            let show = path_show(req)?;
            let (Some(token_show), Some(seq)) = (claims.show, claims.seq) else {
                return Err(ApiError::new(
                    Code::QueueTokenRequired,
                    "this needs the queue token you got when joining the queue",
                ));
            };
            if token_show != show {
                return Err(ApiError::new(Code::WrongShow, "this queue token belongs to another show"));
            }
            if req.app_data::<web::Data<Tokens>>().is_some_and(|tokens| tokens.ended_shows().has_ended(show)) {
                return Err(ApiError::new(Code::ShowEnded, "this show's sale has ended"));
            }
            Ok(QueueAuth { user: claims.sub, show, seq })
        })())
    }
}

impl FromRequest for AdminAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(bearer_claims(req).and_then(|claims| match claims.role {
            Role::Admin => Ok(AdminAuth(claims)),
            Role::User => Err(ApiError::new(Code::Forbidden, "this needs an admin token")),
        }))
    }
}
