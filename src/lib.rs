//! boxoffice: the backend between a concert's on-sale minute and its seats.
//!
//! Fans get an anonymous token, join a show's first-come queue, are admitted in batches
//! into a bounded active set, hold seats for a few minutes and buy them. Redis (usually a
//! Redis Cluster) carries the hot state; Postgres is the durable record and has the final
//! word on every sale.
//!
//! # Map
//! - [`config`]: typed settings from the environment (and an optional file).
//! - [`app`]: builds the stores, the shared [`state`], the workers and the HTTP server.
//! - [`http`]: one module per resource (tokens, catalog, queue, holds, reservations, admin,
//!   operations, docs), and the pages people use (`http::site`: the fan's waiting room at
//!   `/`, the operator's console at `/admin`); [`error`] is the one error type and its JSON
//!   body.
//! - [`auth`]: JWT issue/verify and the extractors for user, queue and admin tokens.
//! - [`limits`]: abuse limits per client address and per user (429 `rate_limited`).
//! - [`domain`]: the rules with no I/O: positions, ETAs, poll pacing, seat layouts, holds.
//! - [`store`]: the store traits, their Redis implementations (Lua scripts, one hash slot
//!   per show; a show's concurrent joins and holds coalesced into one script call), their
//!   Postgres implementations (the fallback that serves the sale when Redis can't, batched
//!   the same way) and Postgres as the record (catalog, sales, write-behind sink);
//!   `store::switch` is the one switch point between Redis and the fallback.
//! - [`cache`]: in-process caches that keep Redis off the hot path (cursors, seat maps).
//! - [`push`]: server-sent events: the wire format, the bound on open streams, and each
//!   instance's seat boards, which its streams of a show share.
//! - [`worker`]: admission ticker, cursor subscriber, write-behind consumer, and following
//!   (and restoring) the deployment's backend.
//! - [`clock`]: Redis server time in production, a hand-moved clock in tests.
//! - [`seed`], [`telemetry`].
//!
//! # Why a waiting user's poll costs no Redis call
//! A place is a join sequence number `seq`, signed into the queue token. Admission pops
//! users off the front and counts them in a cursor, so `position = seq - cursor`. Every
//! instance keeps the cursor of every show (Pub/Sub plus its own ticks), so polls from
//! users still waiting are answered from memory.

pub mod app;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod limits;
pub mod push;
pub mod seed;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod worker;

#[cfg(test)]
pub(crate) mod source_tree {
    //! The crate's own source, for tests that check what the code says.

    /// Every `.rs` file under `src/<dir>` (all of `src` for `""`): its path and its text.
    pub fn sources(dir: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src").join(dir)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod layering {
    //! Dependencies point one way: the domain knows no I/O, the stores and caches know
    //! neither the workers, the handlers nor the state that holds them all.

    use super::source_tree::sources;

    #[test]
    fn lower_layers_never_import_upper_ones() {
        let rules = [
            ("domain", &["crate::store", "crate::cache", "crate::http", "crate::worker", "crate::state"][..]),
            ("store", &["crate::http", "crate::worker", "crate::state"]),
            ("cache", &["crate::http", "crate::worker", "crate::state"]),
            ("push", &["crate::http", "crate::worker", "crate::state"]),
        ];
        for (layer, forbidden) in rules {
            for (path, text) in sources(layer) {
                for upper in forbidden {
                    assert!(!text.contains(upper), "{path} uses {upper}");
                }
            }
        }
    }
}
