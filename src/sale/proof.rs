//! Proof of work for joining (per show, `pow_bits` in the queue settings): the challenge a
//! fan solves, and the check a join makes. A challenge is bound to one user and one show,
//! signed with a key derived from the service's secret, and spent once.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Sale;
use crate::domain::ShowId;
use crate::domain::from_millis;
use crate::domain::pow::{self, PowError};
use crate::error::{ApiError, Code};
use crate::store::QueueStore;

/// A challenge to solve before joining.
pub struct Challenge {
    pub text: String,
    pub bits: u32,
    pub expires_at: DateTime<Utc>,
}

impl Sale {
    /// A proof-of-work challenge for joining this show, bound to the user.
    pub async fn challenge(&self, show: ShowId, user: Uuid) -> Result<Challenge, ApiError> {
        let config = self.queue_config(show).await?;
        let bits = config.ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))?.pow_bits;
        let issued = pow::issue(&self.pow_secret(), show, user, self.backend.now_ms());
        Ok(Challenge { text: issued.text, bits, expires_at: from_millis(issued.expires_at_ms) })
    }

    /// Challenges are signed with a key of their own, derived from the service's secret.
    fn pow_secret(&self) -> Vec<u8> {
        format!("boxoffice-pow:{}", self.settings.auth.jwt_secret.expose()).into_bytes()
    }

    /// A join of a show that asks for proof of work must carry a solution (challenge and
    /// nonce) nobody spent yet. Settings that can't be read (Postgres down, and never read
    /// before) let the join through without: proof of work is friction for bots, not worth
    /// stopping the sale for.
    pub async fn check_proof(&self, show: ShowId, user: Uuid, solution: Option<(&str, &str)>) -> Result<(), ApiError> {
        let bits = match self.queue_config(show).await {
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
        let (challenge, nonce) = solution.ok_or_else(|| invalid(PowError::Malformed.message()))?;
        let now = self.backend.now_ms();
        let solved = pow::verify(&self.pow_secret(), (show, user, now), (challenge, nonce, bits))
            .map_err(|error| invalid(error.message()))?;
        if !self.backend.spend_challenge(show, &solved.id, solved.expires_at_ms).await? {
            return Err(invalid("this challenge was used already; get a new one"));
        }
        metrics::counter!("boxoffice_pow_accepted_total").increment(1);
        Ok(())
    }
}
