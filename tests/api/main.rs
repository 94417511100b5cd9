//! Integration tests against the real local stack: a six-node Redis Cluster and Postgres.
//!
//! The suite runs twice (scripts/test.sh): on Redis, and with `BOXOFFICE_TEST_BACKEND=postgres`
//! on the Postgres fallback, where the tests in `on_redis` modules (how Redis does it) are
//! skipped: the rules are the same rules.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails by panicking")]

#[path = "../support/mod.rs"]
mod support;

mod admin;
mod auth;
mod bad_input;
mod cancellation;
mod catalog;
mod events;
mod fairness;
mod fallback;
mod holds;
mod lanes;
mod life;
mod limits;
mod openapi;
mod operations;
mod pages;
mod pow;
mod queue;
mod reservations;
mod retention;
mod season;

/// The Redis event streams and their write-behind into Postgres.
#[path = "write_behind.rs"]
mod on_redis_write_behind;
