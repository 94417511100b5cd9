//! Random sequences of requests by a few fans, and how a sequence reads when it fails.

use std::fmt::Write;

use boxoffice::domain::model::{Fan, Request, Seat, Store};
use boxoffice::domain::queue::{QueueConfig, QueueConfigPatch};
use proptest::prelude::*;
use proptest::sample::select;

/// Fans in a sequence, and the seats of its show.
pub const FANS: u8 = 4;
pub const SEATS: u8 = 5;

/// The queue settings every sequence's show starts with.
pub fn starting_config() -> QueueConfig {
    QueueConfig {
        max_active: 2,
        admit_per_second: 1000.0,
        session_ttl_s: 30,
        claim_window_s: 10,
        hold_ttl_s: 20,
        max_seats_per_user: 2,
        ..QueueConfig::default()
    }
}

fn fan() -> impl Strategy<Value = Fan> {
    (0..FANS).prop_map(Fan)
}

fn seat() -> impl Strategy<Value = Seat> {
    (0..SEATS).prop_map(Seat)
}

/// One or two different seats.
fn seats() -> impl Strategy<Value = Vec<Seat>> {
    prop_oneof![
        seat().prop_map(|s| vec![s]),
        (seat(), seat()).prop_filter_map("two seats", |(a, b)| (a != b).then(|| vec![a, b]))
    ]
}

/// A settings change, a fair opening among them.
fn change() -> impl Strategy<Value = QueueConfigPatch> {
    prop_oneof![
        select(vec![1_u32, 2, 3]).prop_map(|n| QueueConfigPatch { max_active: Some(n), ..QueueConfigPatch::default() }),
        select(vec![0.0, 0.5, 1.0, 10.0, 1000.0])
            .prop_map(|r| QueueConfigPatch { admit_per_second: Some(r), ..QueueConfigPatch::default() }),
        any::<bool>().prop_map(|p| QueueConfigPatch { paused: Some(p), ..QueueConfigPatch::default() }),
        select(vec![1_u32, 2, 3]).prop_map(|n| QueueConfigPatch { lanes: Some(n), ..QueueConfigPatch::default() }),
        opening(),
        any::<bool>().prop_map(|c| QueueConfigPatch { closed: Some(c), ..QueueConfigPatch::default() }),
        select(vec![0_i64, 5_000, 30_000]).prop_map(|at| QueueConfigPatch {
            on_sale_at: chrono::DateTime::from_timestamp_millis(at),
            ..QueueConfigPatch::default()
        }),
    ]
}

/// A fair opening, at a time of the sequence's clock (ms from its start).
fn opening() -> impl Strategy<Value = QueueConfigPatch> {
    select(vec![1_000_i64, 5_000, 30_000, 60_000]).prop_map(|at| QueueConfigPatch {
        opens_at: chrono::DateTime::from_timestamp_millis(at),
        ..QueueConfigPatch::default()
    })
}

/// Waits around the settings' edges: a tick, a second, the claim window, a hold, a session.
fn wait() -> impl Strategy<Value = Request> {
    select(vec![100_i64, 1_000, 5_000, 10_000, 20_000, 30_000]).prop_map(|ms| Request::Wait { ms })
}

/// A request; with `moving`, moves of the deployment between the stores too.
pub fn request(moving: bool) -> BoxedStrategy<Request> {
    let asked = prop_oneof![
        5 => fan().prop_map(Request::Join),
        3 => fan().prop_map(Request::Standing),
        1 => fan().prop_map(Request::Leave),
        5 => Just(Request::Tick),
        2 => wait(),
        4 => (fan(), seats()).prop_map(|(f, s)| Request::Hold(f, s)),
        1 => (fan(), seat()).prop_map(|(f, s)| Request::Release(f, s)),
        1 => fan().prop_map(Request::HoldsOf),
        3 => (fan(), seats(), proptest::option::of(0_u8..2)).prop_map(|(f, s, k)| Request::Buy(f, s, k)),
        1 => change().prop_map(Request::Change),
        2 => Just(Request::Counts),
    ];
    match moving {
        false => asked.boxed(),
        true => prop_oneof![
            14 => asked,
            1 => select(vec![Request::MoveTo(Store::Postgres), Request::MoveTo(Store::Redis)]),
        ]
        .boxed(),
    }
}

/// A sequence of requests; about a third of them start by setting a fair opening.
pub fn sequence(max_len: usize, moving: bool) -> impl Strategy<Value = Vec<Request>> {
    let opened = proptest::option::weighted(0.3, opening().prop_map(Request::Change));
    (opened, proptest::collection::vec(request(moving), 1..max_len)).prop_map(|(opening, mut requests)| {
        requests.splice(0..0, opening);
        requests
    })
}

/// The sequence as a script, one request a line, to read and to paste as a regression test.
pub fn script(sequence: &[Request]) -> String {
    let mut out = String::new();
    for request in sequence {
        let _ = writeln!(out, "    {request:?},");
    }
    out
}
