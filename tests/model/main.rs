//! The differential test: random sequences of fans' and operators' requests, with time
//! moving on the test clock, answered by the reference model (`domain::model`) and by each
//! engine; every answer a client can see must agree. A divergence fails with the shrunk
//! sequence as a script, which becomes a test in `regressions`.
//!
//! `BOXOFFICE_MODEL_SEQUENCES` sets how many sequences each engine runs (scripts/test.sh
//! keeps the default); `scripts/soak.sh` runs many more and reports every divergence.
//! The suite draws the same sequences each run (`BOXOFFICE_MODEL_SEED`, a number); the soak
//! draws new ones (`BOXOFFICE_MODEL_SEED=random`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails by panicking")]

#[path = "../support/mod.rs"]
mod support;

mod engine;
mod regressions;
mod runner;
mod steps;

use runner::{Draw, Kind, check};

/// Sequences per engine in the test suite.
const SEQUENCES: u64 = 200;
/// The suite's sequences, the same each run.
const SEED: u64 = 2026;

fn sequences() -> u64 {
    std::env::var("BOXOFFICE_MODEL_SEQUENCES").ok().and_then(|n| n.parse().ok()).unwrap_or(SEQUENCES)
}

fn draw() -> Draw {
    match std::env::var("BOXOFFICE_MODEL_SEED").ok().as_deref() {
        Some("random") => Draw::Random,
        Some(seed) => Draw::Seeded(seed.parse().expect("BOXOFFICE_MODEL_SEED: a number or random")),
        None => Draw::Seeded(SEED),
    }
}

fn workers() -> usize {
    std::env::var("BOXOFFICE_MODEL_WORKERS").ok().and_then(|n| n.parse().ok()).unwrap_or(2)
}

fn agrees_with_the_model(kind: Kind) {
    let keep_going = std::env::var_os("BOXOFFICE_MODEL_KEEP_GOING").is_some();
    let report = check(kind, sequences(), workers(), keep_going, draw());
    println!(
        "{kind:?}: {} sequences in {:.1} s ({:.1}/s), {} divergences",
        report.sequences,
        report.seconds,
        report.sequences as f64 / report.seconds,
        report.divergences.len()
    );
    assert!(
        report.divergences.is_empty(),
        "{kind:?} does not agree with the model:\n{}",
        report.divergences.join("\n")
    );
}

#[test]
fn redis_on_one_slot_agrees_with_the_model() {
    agrees_with_the_model(Kind::Redis { lanes: 1 });
}

#[test]
fn redis_on_two_lanes_agrees_with_the_model() {
    agrees_with_the_model(Kind::Redis { lanes: 2 });
}

#[test]
fn redis_on_three_lanes_agrees_with_the_model() {
    agrees_with_the_model(Kind::Redis { lanes: 3 });
}

#[test]
fn the_postgres_fallback_agrees_with_the_model() {
    agrees_with_the_model(Kind::Postgres);
}

#[test]
fn a_deployment_moving_to_postgres_and_back_agrees_with_the_model() {
    agrees_with_the_model(Kind::Moving);
}
