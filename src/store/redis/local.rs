//! One Redis connection per HTTP worker thread.
//!
//! A multiplexed connection's socket is driven by a task on the runtime that opened it. With
//! one shared connection, every request an actix worker sends hops to that task's thread and
//! its reply hops back: two cross-thread wake-ups per call (worth 7% of join throughput in
//! `loadtest/bench_http.sh` on 2 cores). So each worker opens its own connection on its own
//! runtime; a thread without one (a background worker, or one still connecting) uses the
//! shared connection. A rebuild of the shared connection bumps the generation, which makes
//! every thread drop its copy and open a fresh one.

use std::cell::RefCell;
use std::collections::HashMap;

use super::RedisConn;

enum Slot {
    Connecting,
    Ready { generation: u64, conn: RedisConn },
    Failed,
}

thread_local! {
    /// Keyed by `Redis::id`, so several services in one process (tests) don't mix.
    static SLOTS: RefCell<HashMap<u64, Slot>> = RefCell::new(HashMap::new());
}

/// What this thread holds for the service `id` at `generation`.
pub(super) enum Local {
    Ready(RedisConn),
    /// This thread had a connection of its own, now outdated or failed: it should reopen it.
    Stale,
    /// Not a thread with a connection of its own, or one being opened.
    None,
}

pub(super) fn get(id: u64, generation: u64) -> Local {
    SLOTS.with_borrow(|slots| match slots.get(&id) {
        Some(Slot::Ready { generation: g, conn }) if *g == generation => Local::Ready(conn.clone()),
        Some(Slot::Ready { .. } | Slot::Failed) => Local::Stale,
        Some(Slot::Connecting) | None => Local::None,
    })
}

pub(super) fn mark_connecting(id: u64) {
    SLOTS.with_borrow_mut(|slots| slots.insert(id, Slot::Connecting));
}

pub(super) fn store(id: u64, generation: u64, conn: Option<RedisConn>) {
    let slot = match conn {
        Some(conn) => Slot::Ready { generation, conn },
        None => Slot::Failed,
    };
    SLOTS.with_borrow_mut(|slots| slots.insert(id, slot));
}
