//! The rules of the sale, free of I/O: positions and ETAs, poll pacing, queue settings,
//! seat layouts and hold requests. Everything here is unit-tested without Redis or Postgres.

pub mod catalog;
pub mod fairness;
pub mod holds;
pub mod life;
pub mod model;
pub mod pow;
pub mod queue;

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

/// A time from the stores' milliseconds since the epoch (now, for one chrono can't hold).
pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.timestamp_millis_opt(ms).single().unwrap_or_else(chrono::Utc::now)
}

/// HMAC-SHA256 of `message` under `key`: what signs proof-of-work challenges and orders a
/// fair opening's draw.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    HmacSha256::new(key).sign(message)
}

/// An HMAC-SHA256 key made ready once, for signing many messages under it (a draw signs
/// every pre-queued user's id with the same seed).
#[derive(Clone)]
pub struct HmacSha256(Hmac<Sha256>);

impl HmacSha256 {
    pub fn new(key: &[u8]) -> Self {
        #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
        Self(Hmac::<Sha256>::new_from_slice(key).expect("any key length"))
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

/// The ids the API names as integers, each a type of its own, so that a show id can't be
/// passed where a seat id is expected. Stored and sent as the plain integer.
macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }
    )*};
}

ids! {
    /// A show (one performance of a concert, with its own queue and seats).
    ShowId,
    /// A seat of a show.
    SeatId,
    /// A concert.
    ConcertId,
}
