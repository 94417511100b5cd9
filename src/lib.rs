//! boxoffice: the backend between a concert's on-sale minute and its seats.
//!
//! Fans get an anonymous token, join a show's first-come queue, are admitted in batches
//! into a bounded active set, hold seats for a few minutes and buy them. Redis (usually a
//! Redis Cluster) carries the hot state; Postgres is the durable record and has the final
//! word on every sale.
//!
//! # Map
//! Dependencies point one way: [`http`] and [`worker`] → [`sale`] → [`store`], [`cache`]
//! and [`push`] → [`domain`] (the test at the end of this file names every forbidden edge).
//!
//! - [`config`]: typed settings from the environment (and an optional file).
//! - [`app`]: builds the stores, the sale, the shared [`state`], the workers and the HTTP
//!   server; a span per request.
//! - [`http`]: one module per resource (tokens, catalog, queue, holds, reservations, admin,
//!   operations, docs), and the pages people use (`http::site`: the fan's waiting room at
//!   `/`, the operator's console at `/admin`); handlers parse, authorise and answer.
//!   [`error`] is the one error type and its JSON body.
//! - [`sale`]: every rule of the sale, one file each (queue, proof of work, seats, the fair
//!   opening, catalog, write-behind, deployment, feeds); `sale::backend` is the one place
//!   that decides by the deployment's mode (Redis, or the Postgres fallback).
//! - [`auth`]: JWT issue/verify and the extractors for user, queue and admin tokens.
//! - [`limits`]: abuse limits per client address and per user (429 `rate_limited`).
//! - [`domain`]: the rules with no I/O: positions, ETAs, poll pacing, seat layouts, holds.
//! - [`store`]: the store traits, their Redis implementations (Lua scripts, one hash slot
//!   per show; a show's concurrent joins and holds coalesced into one script call), their
//!   Postgres implementations (the fallback that serves the sale when Redis can't, batched
//!   the same way) and Postgres as the record, split by role (catalog, fairness, deployment,
//!   sales, places, write-behind sink); `store::event`, the one list of event kinds.
//! - [`cache`]: in-process caches that keep Redis off the hot path (cursors, seat maps).
//! - [`push`]: server-sent events: the wire format, the bound on open streams, and each
//!   instance's seat boards, which its streams of a show share.
//! - [`worker`]: the loops that schedule the sale's work: admission ticker, cursor and seat
//!   feeds, write-behind consumer, following (and restoring) the deployment's backend.
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
pub mod sale;
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
    //! Dependencies point one way: http and worker → sale → store, cache and push → domain.
    //! The handlers and workers reach the stores only through the sale; the stores and the
    //! caches don't know each other; the domain knows no I/O.

    use super::source_tree::sources;

    /// Every edge that must not exist: (the layer, what it must not use).
    const FORBIDDEN: &[(&str, &str)] = &[
        ("domain", "crate::store"),
        ("domain", "crate::cache"),
        ("domain", "crate::push"),
        ("domain", "crate::sale"),
        ("domain", "crate::http"),
        ("domain", "crate::worker"),
        ("domain", "crate::state"),
        ("store", "crate::cache"),
        ("store", "crate::push"),
        ("store", "crate::sale"),
        ("store", "crate::http"),
        ("store", "crate::worker"),
        ("store", "crate::state"),
        ("cache", "crate::store"),
        ("cache", "crate::push"),
        ("cache", "crate::sale"),
        ("cache", "crate::http"),
        ("cache", "crate::worker"),
        ("cache", "crate::state"),
        ("push", "crate::store"),
        ("push", "crate::cache"),
        ("push", "crate::sale"),
        ("push", "crate::http"),
        ("push", "crate::worker"),
        ("push", "crate::state"),
        ("sale", "crate::http"),
        ("sale", "crate::worker"),
        ("sale", "crate::state"),
        ("sale", "crate::push"),
        ("http", "crate::store"),
        ("http", "crate::cache"),
        ("http", "crate::worker"),
        ("worker", "crate::store"),
        ("worker", "crate::cache"),
        ("worker", "crate::http"),
        // The sale's doors for tests and tools are not for the layers above it.
        ("http", ".db()"),
        ("http", ".redis()"),
        ("http", ".events()"),
        ("worker", ".db()"),
        ("worker", ".redis()"),
        ("worker", ".events()"),
    ];

    #[test]
    fn no_layer_uses_one_it_must_not() {
        for (layer, forbidden) in FORBIDDEN {
            for (path, text) in sources(layer) {
                assert!(!text.contains(forbidden), "{layer} must not use {forbidden}, and {path} does");
            }
        }
    }

    #[test]
    fn only_the_backend_asks_which_store_serves() {
        let asking = concat!("mode", "()");
        for (path, text) in sources("") {
            if !path.ends_with("src/sale/backend.rs") {
                assert!(!text.contains(asking), "{path} asks the mode itself; the decision belongs in the Backend");
            }
        }
    }
}
