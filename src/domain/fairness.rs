//! The fair opening's draw, free of I/O: who goes first among the users who joined before
//! the opening is decided by `HMAC-SHA256(key = seed, message = user id)`, the 36-character
//! lowercase UUID, ascending (as unsigned big-endian bytes). The seed is chosen when the
//! opening is set and only its SHA-256 (the commitment) is published until the draw; then
//! the seed is revealed and anyone can recompute the order (`docs/verify_draw.py`).

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::HmacSha256;

/// The name the fairness endpoint gives this order.
pub const ALGORITHM: &str = "hmac-sha256-v1";
pub const SEED_LEN: usize = 32;

/// A user's draw key: HMAC-SHA256(seed, the user id as 36 lowercase characters).
pub fn draw_key(seed: &[u8], user: Uuid) -> [u8; 32] {
    keyed_draw_key(&HmacSha256::new(seed), user)
}

fn keyed_draw_key(seed: &HmacSha256, user: Uuid) -> [u8; 32] {
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    seed.sign(user.hyphenated().encode_lower(&mut id).as_bytes())
}

pub fn commitment(seed: &[u8]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// What the entries endpoint shows instead of the user id.
pub fn user_hash(user: Uuid) -> String {
    hex::encode(Sha256::digest(user.hyphenated().to_string().as_bytes()))
}

/// One drawn place.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    pub user: Uuid,
    pub key: [u8; 32],
}

/// The pre-queue in draw order: the first gets the first place.
pub fn draw(seed: &[u8], users: &[Uuid]) -> Vec<Drawn> {
    let seed = HmacSha256::new(seed);
    let mut drawn: Vec<Drawn> =
        users.iter().map(|user| Drawn { user: *user, key: keyed_draw_key(&seed, *user) }).collect();
    drawn.sort_unstable_by_key(|place| place.key);
    drawn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_hmac_of_the_hyphenated_lowercase_id() {
        let user = Uuid::parse_str("6F9619FF-8B86-D011-B42D-00CF4FC964FF").unwrap();
        // echo -n 6f9619ff-8b86-d011-b42d-00cf4fc964ff | openssl dgst -sha256 -hmac seed
        assert_eq!(
            hex::encode(draw_key(b"seed", user)),
            "2179bfc8a0782df030e062ded3bd38eae40895bde0162855872e1ebe44d71936"
        );
        assert_ne!(draw_key(b"seed", user), draw_key(b"other", user), "the seed decides");
    }

    #[test]
    fn the_order_is_the_keys_ascending_and_the_commitment_is_the_seeds_sha256() {
        let users: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
        let order = draw(b"some seed", &users);
        assert_eq!(order.len(), 100);
        assert!(order.windows(2).all(|pair| pair[0].key < pair[1].key));
        assert_eq!(commitment(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
