//! Proof of work for joining a show: a little CPU per identity, so a bot that mints
//! thousands of identities pays for each of them.
//!
//! A challenge is `<show>.<user>.<expires ms>.<random>.<mac>`: signed by the service (HMAC
//! with its secret), so it needs no storage until it is spent, and bound to one user and
//! one show. A solution is a nonce such that `SHA-256(challenge + ":" + nonce)` starts with
//! `bits` zero bits. Spending it (once) is the store's job.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ShowId;

/// How long a challenge may be solved and used.
pub const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// The most bits a show may ask for (2^32 hashes is minutes of a phone's CPU).
pub const MAX_BITS: u32 = 32;
/// Longest nonce accepted.
const MAX_NONCE_LEN: usize = 64;

/// A challenge as issued, and what it is bound to.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub text: String,
    pub expires_at_ms: i64,
}

/// Why a solution was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowError {
    Malformed,
    Forged,
    OtherUserOrShow,
    Expired,
    TooFewZeroBits,
}

impl PowError {
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "the proof of work is missing or malformed",
            Self::Forged => "the challenge was not issued by this service",
            Self::OtherUserOrShow => "the challenge was issued to another user or for another show",
            Self::Expired => "the challenge has expired; get a new one",
            Self::TooFewZeroBits => "the nonce does not solve the challenge",
        }
    }
}

fn mac(secret: &[u8], payload: &str) -> String {
    hex::encode(super::hmac_sha256(secret, payload.as_bytes()))
}

pub fn issue(secret: &[u8], show: ShowId, user: Uuid, now_ms: i64) -> Challenge {
    let expires_at_ms = now_ms + CHALLENGE_TTL_MS;
    let payload = format!("{show}.{}.{expires_at_ms}.{}", user.simple(), Uuid::new_v4().simple());
    Challenge { text: format!("{payload}.{}", mac(secret, &payload)), expires_at_ms }
}

/// A solution that checks out: spend the challenge (by `id`) until it expires.
#[derive(Debug, Clone, PartialEq)]
pub struct Solved {
    pub id: String,
    pub expires_at_ms: i64,
}

/// Checks a solution against the challenge and who presents it.
pub fn verify(
    secret: &[u8],
    (show, user, now_ms): (ShowId, Uuid, i64),
    (challenge, nonce, bits): (&str, &str, u32),
) -> Result<Solved, PowError> {
    let (payload, signature) = challenge.rsplit_once('.').ok_or(PowError::Malformed)?;
    let parts: Vec<&str> = payload.split('.').collect();
    let [for_show, for_user, expires, _random] = parts[..] else { return Err(PowError::Malformed) };
    if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(PowError::Malformed);
    }
    let expected = mac(secret, payload);
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(PowError::Forged);
    }
    if for_show != show.to_string() || for_user != user.simple().to_string() {
        return Err(PowError::OtherUserOrShow);
    }
    let expires_at_ms: i64 = expires.parse().map_err(|_| PowError::Malformed)?;
    if expires_at_ms <= now_ms {
        return Err(PowError::Expired);
    }
    if leading_zero_bits(&Sha256::digest(format!("{challenge}:{nonce}"))) < bits {
        return Err(PowError::TooFewZeroBits);
    }
    Ok(Solved { id: signature.to_string(), expires_at_ms })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        bits += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    bits
}

/// What a client does: the first nonce (0, 1, 2, ...) that solves the challenge.
pub fn solve(challenge: &str, bits: u32) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|nonce| leading_zero_bits(&Sha256::digest(format!("{challenge}:{nonce}"))) >= bits)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ShowId;

    const SECRET: &[u8] = b"secret";

    #[test]
    fn zero_bits_are_counted_from_the_first_byte() {
        assert_eq!(leading_zero_bits(&[0, 0, 0b0001_0000]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    #[test]
    fn a_solved_challenge_is_accepted_for_its_user_and_show_until_it_expires() {
        let user = Uuid::new_v4();
        let challenge = issue(SECRET, ShowId(7), user, 1_000);
        let nonce = solve(&challenge.text, 8);
        let solved = verify(SECRET, (ShowId(7), user, 2_000), (&challenge.text, &nonce, 8)).unwrap();
        assert_eq!(solved.expires_at_ms, challenge.expires_at_ms);
        assert!(challenge.text.ends_with(&solved.id), "the id is the challenge's signature");
        let late = challenge.expires_at_ms;
        assert_eq!(verify(SECRET, (ShowId(7), user, late), (&challenge.text, &nonce, 8)), Err(PowError::Expired));
        let other = Uuid::new_v4();
        assert_eq!(
            verify(SECRET, (ShowId(7), other, 2_000), (&challenge.text, &nonce, 8)),
            Err(PowError::OtherUserOrShow)
        );
        assert_eq!(
            verify(SECRET, (ShowId(8), user, 2_000), (&challenge.text, &nonce, 8)),
            Err(PowError::OtherUserOrShow)
        );
    }

    #[test]
    fn forged_malformed_and_unsolved_challenges_are_refused() {
        let user = Uuid::new_v4();
        let challenge = issue(SECRET, ShowId(7), user, 1_000).text;
        let nonce = solve(&challenge, 12);
        let now = (ShowId(7), user, 2_000);
        assert_eq!(verify(b"other", now, (&challenge, &nonce, 12)), Err(PowError::Forged));
        let tampered = challenge.replacen("7.", "8.", 1);
        assert_eq!(verify(SECRET, now, (&tampered, &nonce, 12)), Err(PowError::Forged));
        assert_eq!(verify(SECRET, now, ("nonsense", &nonce, 12)), Err(PowError::Malformed));
        assert_eq!(verify(SECRET, now, (&challenge, "", 12)), Err(PowError::Malformed));
        let unsolved = (0..).map(|n: u32| n.to_string()).find(|n| verify(SECRET, now, (&challenge, n, 12)).is_err());
        let unsolved = unsolved.unwrap();
        assert_eq!(verify(SECRET, now, (&challenge, &unsolved, 12)), Err(PowError::TooFewZeroBits));
    }
}
