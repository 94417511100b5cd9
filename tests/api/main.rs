//! Integration tests against the real local stack: a six-node Redis Cluster and Postgres.

#[path = "../support/mod.rs"]
mod support;

mod admin;
mod auth;
mod bad_input;
mod catalog;
mod holds;
mod openapi;
mod operations;
mod queue;
mod reservations;
mod write_behind;
