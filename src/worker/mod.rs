//! Background work in every instance, scheduled here and done by the sale: following the
//! deployment's backend (and bringing it back to Redis), the admission ticker, the cursor
//! and seat feeds, the write-behind consumer, following the live shows, the sales that
//! ended and the changes of queue settings, and forgetting what has expired (idle clients
//! of the abuse limits; what retention lets go of in Postgres). Redis-side atomicity
//! (scripts, leases) keeps N instances from doing the work N times.

pub mod admission;
pub mod backend;
pub mod cursor_feed;
pub mod postgres_feed;
pub mod season;
pub mod seat_feed;
pub mod write_behind;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::state::AppState;

/// Runs `round` every `period`; a round that runs late delays the next instead of bunching
/// the missed ones up.
pub(crate) async fn every<F, Round>(period: Duration, mut round: F)
where
    F: FnMut() -> Round,
    Round: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        round().await;
    }
}

/// The running workers; dropping it stops them.
pub struct Workers(Vec<JoinHandle<()>>);

impl Drop for Workers {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

/// Every instance follows the deployment's backend, reports what it sees of Redis and feeds
/// its event streams; with `work` it also admits, drains the event streams and may rebuild
/// Redis.
pub fn spawn(state: Arc<AppState>, work: bool) -> Workers {
    let mut tasks = vec![
        tokio::spawn(backend::follow(state.clone())),
        tokio::spawn(backend::recover(state.clone(), work)),
        tokio::spawn(cursor_feed::run(state.clone())),
        tokio::spawn(seat_feed::run(state.clone())),
        tokio::spawn(postgres_feed::follow_cursors(state.clone())),
        tokio::spawn(postgres_feed::follow_seats(state.clone())),
        tokio::spawn(forget_idle_clients(state.clone(), work)),
        // Every instance: the join path reads the queue settings (opening, proof of work),
        // and its joins make shows live for the workers of every instance.
        tokio::spawn(season::follow_settings(state.clone())),
        tokio::spawn(season::follow_live_shows(state.clone())),
        tokio::spawn(season::follow_endings(state.clone(), work)),
    ];
    if work {
        tasks.extend([tokio::spawn(admission::run(state.clone())), tokio::spawn(write_behind::run(state))]);
    }
    Workers(tasks)
}

/// How often the abuse limits drop the clients they no longer need to remember, and (with
/// `work`) Postgres what was kept long enough.
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);

async fn forget_idle_clients(state: Arc<AppState>, work: bool) {
    let state = &state;
    every(FORGET_IDLE_EVERY, move || async move {
        state.limits.forget_idle();
        if work {
            state.sale.apply_retention().await;
        }
    })
    .await;
}
