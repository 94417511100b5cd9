//! Test harness shared by the integration test binaries, by what it starts: the service
//! ([`app`]: `spawn_app()` on port 0 against the real local stack of scripts/stack.sh, with a
//! hand-moved clock), the test's own Postgres database ([`database`]), Redis ([`redis_server`]),
//! a private Redis Cluster ([`cluster`]), a cuttable proxy ([`proxy`]) and event stream
//! clients ([`events`]). Each test's database is a copy of a template migrated once per
//! migration set, and is dropped when the test's last instance goes.
#![allow(dead_code)]

mod app;
mod cluster;
mod database;
mod events;
mod proxy;
mod redis_server;

pub use boxoffice::domain::{SeatId, ShowId};
// Each test binary uses some of these.
#[allow(unused_imports)]
pub use {app::*, cluster::*, database::*, events::*, proxy::*, redis_server::*};
