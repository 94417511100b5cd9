//! The whole Redis Cluster goes away under a mixed load of joins, polls, holds and sales:
//! the deployment moves to Postgres and the sale goes on, then Redis is rebuilt from Postgres
//! and takes over again. Each test prints what happened and checks the invariants: every
//! 201 join keeps its place, nobody has two, no seat is sold twice, the active set stays
//! bounded, requests answer normally and in bounded time, and Redis ends with the state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use boxoffice::clock::Clock;
use boxoffice::config::RedisTarget;
use boxoffice::store::Mode;
use reqwest::StatusCode;
use serde_json::json;

use crate::load::{Load, Outcome};
use crate::scenario::*;
use crate::support::{CuttableProxy, PrivateCluster, StandaloneRedis, start};

/// What a scenario does to the cluster while the load runs.
enum Fault {
    FreezeAll(Duration),
    KillAllRestartEmpty,
    Flap { every: Duration, for_: Duration },
}

async fn inflict(cluster: &PrivateCluster, fault: &Fault) {
    match fault {
        Fault::FreezeAll(how_long) => {
            cluster.signal_all("-STOP");
            tokio::time::sleep(*how_long).await;
            cluster.signal_all("-CONT");
        }
        Fault::KillAllRestartEmpty => {
            cluster.signal_all("-KILL");
            tokio::time::sleep(Duration::from_secs(5)).await;
            tokio::task::block_in_place(|| cluster.restart_empty());
        }
        Fault::Flap { every, for_ } => {
            let started = Instant::now();
            while started.elapsed() < *for_ {
                cluster.signal_all("-STOP");
                tokio::time::sleep(*every).await;
                cluster.signal_all("-CONT");
                tokio::time::sleep(*every).await;
            }
        }
    }
}

/// Runs the scenario and checks it; returns the deployment's mode row at the end.
async fn survive(fault: Fault) -> boxoffice::store::postgres::mode::ModeRow {
    let cluster = PrivateCluster::start();
    let app = app_on(&cluster).await;
    let (show, seats) = on_sale(&app).await;
    let load = Load::start(app.clone(), show, seats, FANS);
    let stop_watching = Arc::new(AtomicBool::new(false));
    let largest_active = watch_active(app.clone(), show, stop_watching.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;

    let fault_at = load.now();
    inflict(&cluster, &fault).await;
    let cleared_at = load.now();
    let back = wait_for_mode(&app, Mode::Redis, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outcome = load.stop().await;
    stop_watching.store(true, Ordering::Relaxed);
    println!("back on Redis {back:?} after the fault cleared");
    let largest_active = largest_active.await.unwrap();
    check_outage(&outcome, fault_at..cleared_at + back, largest_active);
    check_invariants(&app, show, &outcome).await;
    app.state.sale.db().deployment().mode_row().await.unwrap()
}

/// During the outage: the fallback served soon, requests got their normal answers in
/// bounded time (holds and purchases wait out the holds' hand-over first: they get 503s
/// until then, and must be served again once it is over), the active set stayed bounded
/// and seats were sold.
fn check_outage(outcome: &Outcome, outage: std::ops::Range<Duration>, largest_active: u64) {
    let fault_at = outage.start;
    let (share, during) = outcome.normal_share(outage, |r| r.what != "hold" && r.what != "confirm");
    let served = outcome.first_served_after("join", fault_at).expect("joins were served during the outage") - fault_at;
    let held = outcome.first_served_after("hold", fault_at).map(|at| at - fault_at);
    println!(
        "requests {}, by status {:?}, max latency {:?}; during the outage {during} requests besides holds and \
         purchases, {:.1}% normal; first join served {served:?} after the fault, first hold {held:?}; \
         largest active set {largest_active}; {} joins acknowledged, {} sales",
        outcome.records.len(),
        outcome.statuses(),
        outcome.max_latency(),
        share * 100.0,
        outcome.joins.len(),
        outcome.sales.len(),
    );
    assert!(served <= REDIS_TIMEOUT + Duration::from_secs(2), "the fallback served {served:?} after the fault");
    assert!(share >= 0.95, "{:.1}% of requests got their normal answer during the outage", share * 100.0);
    let hand_over = REDIS_TIMEOUT + HOLD_HANDOVER + Duration::from_secs(2);
    assert!(held.is_some_and(|held| held <= hand_over), "holds were served again {held:?} after the fault");
    assert!(outcome.max_latency() <= BOUND, "a request took {:?}", outcome.max_latency());
    assert!(largest_active <= MAX_ACTIVE + ACTIVE_SLACK, "the active set reached {largest_active}");
    assert!(!outcome.sales.is_empty(), "seats were sold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_cluster_frozen_for_twenty_seconds_the_sale_goes_on_from_postgres() {
    survive(Fault::FreezeAll(Duration::from_secs(20))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_cluster_killed_and_started_again_empty_is_rebuilt_from_postgres() {
    survive(Fault::KillAllRestartEmpty).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_cluster_moves_the_sale_to_postgres_once_and_back_once_it_is_steady() {
    let mode = survive(Fault::Flap { every: Duration::from_secs(2), for_: Duration::from_secs(20) }).await;
    assert_eq!(mode.epoch, 2, "one switch to Postgres and one back, not one per flap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_losing_redis_moves_every_instance_to_postgres_until_all_reach_it_again() {
    let redis = StandaloneRedis::start();
    let proxy = CuttableProxy::start(redis.url().trim_start_matches("redis://").to_string()).await;
    let settings = settings_for(RedisTarget::Single(redis.url())).await;
    let kept = Arc::new(start(settings.clone(), Clock::RedisServer).await);
    let mut through_proxy = settings;
    through_proxy.redis.target = RedisTarget::Single(format!("redis://127.0.0.1:{}", proxy.port));
    let cut_off = Arc::new(start(through_proxy, Clock::RedisServer).await);
    let (show, seats) = on_sale(&cut_off).await;
    kept.state.sale.reload_settings().await;
    let loads = [cut_off.clone(), kept.clone()].map(|app| Load::start(app, show, seats.clone(), FANS / 2));
    let stop_watching = Arc::new(AtomicBool::new(false));
    let largest_active = watch_active(kept.clone(), show, stop_watching.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;

    let cut_at = loads[0].now();
    proxy.cut();
    wait_for_mode(&cut_off, Mode::Postgres, Duration::from_secs(5)).await;
    let moved = Instant::now();
    while kept.state.sale.backend().mode() != Mode::Postgres {
        assert!(moved.elapsed() < Duration::from_secs(1), "the other instance follows within a second");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ready = kept.get("/readyz", None).await;
    assert_eq!((ready.status, &ready.body["backend"]), (StatusCode::OK, &json!("postgres")), "{:?}", ready.body);
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        kept.state.sale.db().deployment().mode_row().await.unwrap().mode,
        Mode::Postgres,
        "no way back while one instance is cut off"
    );

    proxy.heal();
    let healed_at = loads[0].now();
    let back = wait_for_mode(&cut_off, Mode::Redis, Duration::from_secs(60)).await;
    wait_for_mode(&kept, Mode::Redis, Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let [first, second] = loads;
    let outcome = first.stop().await.merge(second.stop().await);
    stop_watching.store(true, Ordering::Relaxed);
    println!("back on Redis {back:?} after the proxy healed");
    check_outage(&outcome, cut_at..healed_at + back, largest_active.await.unwrap());
    check_invariants(&cut_off, show, &outcome).await;
}
