//! Tokens. Every token is an HS256 JWT (the algorithm is pinned on both sides) with `sub`,
//! `exp`, `iat` and `jti`. Three kinds: a user token (an anonymous identity), a queue token
//! (`show` and `seq`: proof of a place in one show's queue) and an admin token (`role`).
//! Tokens are never logged.

mod extract;

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use extract::{AdminAuth, AnyAuth, QueueAuth};

use crate::config::Secret;
use crate::domain::ShowId;

const ALGORITHM: Algorithm = Algorithm::HS256;
/// Clock skew forgiven on `exp`.
const LEEWAY_S: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show: Option<ShowId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// On a place the fair opening drew: the hex HMAC that placed it, for the fan to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<String>,
}

/// A signed token and when it expires.
pub struct Issued {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    user_ttl: Duration,
    ended: EndedShows,
}

/// The shows whose sale has ended: their queue tokens are refused (410 `show_ended`). The
/// sale says which; the clones of one `Tokens` share it.
#[derive(Clone, Default)]
pub struct EndedShows(std::sync::Arc<std::sync::RwLock<std::collections::HashSet<ShowId>>>);

impl EndedShows {
    pub fn end(&self, show: ShowId) {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(show);
    }

    pub fn has_ended(&self, show: ShowId) -> bool {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&show)
    }
}

impl Tokens {
    pub fn new(secret: &Secret, user_ttl: Duration) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        validation.leeway = LEEWAY_S;
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            user_ttl,
            ended: EndedShows::default(),
        }
    }

    /// The shows whose queue tokens are refused.
    pub fn ended_shows(&self) -> &EndedShows {
        &self.ended
    }

    /// A new anonymous user.
    pub fn issue_user(&self) -> (Uuid, Issued) {
        let user = Uuid::new_v4();
        (user, self.sign(user, Role::User, None, self.user_ttl))
    }

    /// Proof of place `seq` in `show`'s queue; lives as long as a user token.
    pub fn issue_queue(&self, user: Uuid, show: ShowId, seq: i64) -> Issued {
        self.sign(user, Role::User, Some((show, seq)), self.user_ttl)
    }

    /// Proof of a place the fair opening drew, with the draw's HMAC of this user.
    pub fn issue_drawn(&self, user: Uuid, show: ShowId, seq: i64, draw: String) -> Issued {
        self.sign_claims(user, Role::User, Some((show, seq)), Some(draw), self.user_ttl)
    }

    pub fn issue_admin(&self, ttl: Duration) -> Issued {
        self.sign(Uuid::new_v4(), Role::Admin, None, ttl)
    }

    fn sign(&self, sub: Uuid, role: Role, place: Option<(ShowId, i64)>, ttl: Duration) -> Issued {
        self.sign_claims(sub, role, place, None, ttl)
    }

    #[expect(clippy::expect_used, reason = "HS256 over claims that always serialize cannot fail")]
    fn sign_claims(
        &self,
        sub: Uuid,
        role: Role,
        place: Option<(ShowId, i64)>,
        draw: Option<String>,
        ttl: Duration,
    ) -> Issued {
        let now = Utc::now();
        let expires_at = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let claims = Claims {
            sub,
            exp: expires_at.timestamp(),
            iat: now.timestamp(),
            jti: Uuid::new_v4(),
            role,
            show: place.map(|(show, _)| show),
            seq: place.map(|(_, seq)| seq),
            draw,
        };
        let token =
            jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding).expect("HS256 signing cannot fail");
        Issued { token, expires_at }
    }

    /// The claims of a token signed by us with HS256 and not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ShowId;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn tokens(secret: &str) -> Tokens {
        Tokens::new(&Secret::new(secret), Duration::from_secs(3600))
    }

    fn forge(header: &str, claims: &serde_json::Value, signature: &str) -> String {
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims.to_string()), signature)
    }

    #[test]
    fn a_queue_token_carries_the_user_show_and_seq() {
        let t = tokens("k".repeat(32).as_str());
        let user = Uuid::new_v4();
        let claims = t.verify(&t.issue_queue(user, ShowId(7), 42).token).unwrap();
        assert_eq!((claims.sub, claims.show, claims.seq, claims.role), (user, Some(ShowId(7)), Some(42), Role::User));
    }

    #[test]
    fn alg_none_is_refused() {
        let t = tokens("k".repeat(32).as_str());
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({"sub": Uuid::new_v4(), "exp": now + 60, "iat": now, "jti": Uuid::new_v4(), "role": "admin"});
        assert!(t.verify(&forge(r#"{"alg":"none","typ":"JWT"}"#, &claims, "")).is_err());
    }

    #[test]
    fn a_token_signed_with_another_key_or_algorithm_is_refused() {
        let ours = tokens("k".repeat(32).as_str());
        let theirs = tokens("x".repeat(32).as_str());
        assert!(ours.verify(&theirs.issue_user().1.token).is_err());
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::new_v4(),
            exp: now + 60,
            iat: now,
            jti: Uuid::new_v4(),
            role: Role::Admin,
            show: None,
            seq: None,
            draw: None,
        };
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret("k".repeat(32).as_bytes()),
        )
        .unwrap();
        assert!(ours.verify(&hs512).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let t = tokens("k".repeat(32).as_str());
        let past = Utc::now().timestamp() - 3600;
        let claims = Claims {
            sub: Uuid::new_v4(),
            exp: past,
            iat: past - 60,
            jti: Uuid::new_v4(),
            role: Role::User,
            show: None,
            seq: None,
            draw: None,
        };
        let token = jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &t.encoding).unwrap();
        assert!(t.verify(&token).is_err());
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let t = tokens("k".repeat(32).as_str());
        let token = t.issue_queue(Uuid::new_v4(), ShowId(1), 1000).token;
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["seq"] = 1.into();
        let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
        assert!(t.verify(&tampered).is_err());
    }
}
