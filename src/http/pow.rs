//! Proof of work for joining (per show, `pow_bits` in the queue settings): the challenge
//! endpoint, and the check a join makes.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AnyAuth;
use crate::domain::ShowId;
use crate::domain::pow::{self, PowError};
use crate::error::{ApiError, Code};
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
    let show = path.into_inner();
    let bits = pow_bits(&state, show).await?;
    let issued = pow::issue(&secret(&state), show, auth.0.sub, state.redis.clock.estimate_ms());
    Ok(HttpResponse::Ok().json(ChallengeIssued {
        challenge: issued.text,
        bits,
        expires_at: super::from_millis(issued.expires_at_ms),
    }))
}

async fn pow_bits(state: &AppState, show: ShowId) -> Result<u32, ApiError> {
    let config = state.queue_configs.get(&state.db, show).await?;
    Ok(config.ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))?.pow_bits)
}

/// Challenges are signed with a key of their own, derived from the service's secret.
fn secret(state: &AppState) -> Vec<u8> {
    format!("boxoffice-pow:{}", state.settings.auth.jwt_secret.expose()).into_bytes()
}

/// A join of a show that asks for proof of work must carry a solution nobody spent yet.
/// Settings that can't be read (Postgres down, and never read before) let the join through
/// without: proof of work is friction for bots, not worth stopping the sale for.
pub(crate) async fn check(
    state: &AppState,
    show: ShowId,
    user: Uuid,
    solution: Option<&PowSolution>,
) -> Result<(), ApiError> {
    let bits = match state.queue_configs.get(&state.db, show).await {
        Ok(config) => config.map_or(0, |config| config.pow_bits),
        Err(error) => {
            tracing::debug!(%error, %show, "cannot read pow_bits; the join goes without proof of work");
            metrics::counter!("boxoffice_pow_unchecked_total").increment(1);
            0
        }
    };
    if bits == 0 {
        return Ok(());
    }
    let invalid = |why: &str| ApiError::new(Code::PowInvalid, why);
    let solution = solution.ok_or_else(|| invalid(PowError::Malformed.message()))?;
    let now = state.redis.clock.estimate_ms();
    let solved = pow::verify(&secret(state), (show, user, now), (&solution.challenge, &solution.nonce, bits))
        .map_err(|error| invalid(error.message()))?;
    if !state.queue.spend_challenge(show, &solved.id, solved.expires_at_ms).await? {
        return Err(invalid("this challenge was used already; get a new one"));
    }
    metrics::counter!("boxoffice_pow_accepted_total").increment(1);
    Ok(())
}
