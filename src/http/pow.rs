//! Proof of work for joining (per show, `pow_bits` in the queue settings): the challenge
//! endpoint. The rules (the challenge, the check a join makes) are `sale::proof`'s.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AnyAuth;
use crate::domain::ShowId;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/shows/{show_id}/challenge").route(web::get().to(challenge)));
}

#[derive(Serialize, ToSchema)]
pub struct ChallengeIssued {
    /// Opaque; solve it and send it back with the join.
    pub challenge: String,
    /// `SHA-256(challenge + ":" + nonce)` must start with this many zero bits.
    pub bits: u32,
    pub expires_at: DateTime<Utc>,
}

/// A solved challenge, in a join's body.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct PowSolution {
    pub challenge: String,
    #[schema(min_length = 1, max_length = 64)]
    pub nonce: String,
}

/// A proof-of-work challenge for joining this show, bound to me and usable once.
#[utoipa::path(get, path = "/v1/shows/{show_id}/challenge", tag = "queue", security(("bearer" = [])),
    params(("show_id" = i64, Path)),
    responses((status = 200, body = ChallengeIssued), (status = 404, body = crate::error::ErrorBody)))]
pub async fn challenge(
    auth: AnyAuth,
    path: web::Path<ShowId>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let issued = state.sale.challenge(path.into_inner(), auth.0.sub).await?;
    Ok(HttpResponse::Ok().json(ChallengeIssued {
        challenge: issued.text,
        bits: issued.bits,
        expires_at: issued.expires_at,
    }))
}
