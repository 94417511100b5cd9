//! Fault tests: real Postgres servers stopped and real Redis nodes frozen (SIGSTOP) or killed
//! under load. Each test starts its own servers with the project's scripts, so the shared
//! stack is never disturbed; they run one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails by panicking")]

#[path = "../support/mod.rs"]
mod support;

mod fallback;
mod hang_ups;
mod load;
mod managed_redis;
mod matrix;
mod postgres_outage;
mod push;
mod redis_nodes;
mod scenario;
