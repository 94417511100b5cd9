//! What every fault test shares: an instance on a private cluster with the workers on, a
//! show on sale, the mixed load's bounds, and the invariants checked once the fault is over:
//! every 201 join keeps its place (once per user, in Postgres and in Redis), no seq is
//! handed out twice, no seat acknowledged as held to one fan goes to another, no seat is sold
//! twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use boxoffice::clock::Clock;
use boxoffice::config::RedisTarget;
use boxoffice::store::Mode;
use reqwest::StatusCode;
use serde_json::json;

use crate::load::Outcome;
use crate::support::{PrivateCluster, SeatId, ShowId, TestApp, start, test_settings};

pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
pub const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// Every request answers within this, whatever the fault: the longest a batched call may
/// keep its caller (the call in flight, then its own: twice the store's timeout, the
/// Postgres one being the longer), plus half a second for a loaded machine.
pub const BOUND: Duration = Duration::from_millis(DB_TIMEOUT.as_millis() as u64 * 2 + 500);
pub const MAX_ACTIVE: u64 = 20;
pub const ADMIT_PER_SECOND: f64 = 40.0;
/// Admissions Postgres may not have heard of when it takes over: those of the last
/// write-behind window (a poll interval and a batch), far less than a second's worth.
pub const ACTIVE_SLACK: u64 = ADMIT_PER_SECOND as u64;
pub const FANS: usize = 30;
pub const HOLD_TTL: Duration = Duration::from_secs(30);
/// Above this cluster's failover time (node timeout 2 s).
pub const HOLD_HANDOVER: Duration = Duration::from_secs(5);

pub async fn app_on(cluster: &PrivateCluster) -> Arc<TestApp> {
    let target = RedisTarget::Cluster(cluster.seeds.split(',').map(|s| format!("redis://{s}")).collect());
    Arc::new(start(settings_for(target).await, Clock::RedisServer).await)
}

/// Production's settings but for shorter timeouts, with the workers on.
pub async fn settings_for(target: RedisTarget) -> boxoffice::config::Settings {
    let mut settings = test_settings().await;
    settings.redis.wait_replicas = u32::from(matches!(target, RedisTarget::Cluster(_)));
    settings.redis.target = target;
    settings.redis.timeout = REDIS_TIMEOUT;
    settings.database.timeout = DB_TIMEOUT;
    settings.workers.enabled = true;
    // Longer than one flap of the flapping test, shorter than production's 5 s.
    settings.workers.redis_recovery = Duration::from_secs(3);
    settings.workers.hold_handover = HOLD_HANDOVER;
    settings
}

/// A show of 1,000 seats that admits 40 fans a second into an active set of 20.
pub async fn on_sale(app: &TestApp) -> (ShowId, Arc<Vec<SeatId>>) {
    let show = app.create_show(20, 50).await;
    app.configure_queue(
        show,
        json!({"max_active": MAX_ACTIVE, "admit_per_second": ADMIT_PER_SECOND, "claim_window_s": 30,
               "session_ttl_s": 60, "hold_ttl_s": HOLD_TTL.as_secs()}),
    )
    .await;
    (show, Arc::new(app.seat_ids(show).await))
}

/// Samples the show's active set every 200 ms until stopped; returns the largest seen.
pub fn watch_active(app: Arc<TestApp>, show: ShowId, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let largest = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            if let Ok(counts) = app.state.sale.queue_store().counts(show).await {
                largest.fetch_max(counts.active, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        largest.load(Ordering::Relaxed)
    })
}

pub async fn wait_for_mode(app: &TestApp, mode: Mode, limit: Duration) -> Duration {
    let started = Instant::now();
    while app.state.sale.db().deployment().mode_row().await.map(|row| row.mode).ok() != Some(mode)
        || app.state.sale.backend().mode() != mode
    {
        assert!(started.elapsed() < limit, "the deployment never went to {}", mode.as_str());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Sends a signal (`-STOP`, `-CONT`, `-KILL`) to one process.
pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

/// What broke an invariant, counted (all zero when none did).
#[derive(Debug, Default, PartialEq)]
pub struct Violations {
    /// 201 joins whose place is not the user's in Postgres (after presenting the token).
    pub lost_joins: usize,
    /// Seqs two 201 joins were given.
    pub reused_seqs: usize,
    /// Users with two live places.
    pub doubled_places: usize,
    /// 201 holds whose seat went to another fan while they lasted.
    pub lost_holds: usize,
    /// Seats sold (201) to two fans.
    pub double_sales: usize,
    /// Sales in Postgres that no 201 announced, or 201 sales Postgres lacks.
    pub unrecorded_sales: usize,
}

impl Violations {
    pub fn lost_acks(&self) -> usize {
        self.lost_joins + self.lost_holds
    }
}

/// After the load: every acknowledged place is there (presenting its token reinstates a
/// lost one), once per user; every hold kept its seat; every sale once.
pub async fn violations(app: &TestApp, show: ShowId, outcome: &Outcome) -> Violations {
    app.configure_queue(show, json!({"paused": true})).await;
    for ack in &outcome.joins {
        let poll = app.poll(show, &ack.queue_token).await;
        assert_eq!(poll.status, StatusCode::OK, "{:?}", poll.body);
    }
    written_behind(app).await;
    let db = &app.state.sale.db().pool;
    let mut found = Violations::default();
    for ack in &outcome.joins {
        let user: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT user_id FROM queue_entries WHERE show_id = $1 AND seq = $2")
                .bind(show)
                .bind(ack.seq)
                .fetch_optional(db)
                .await
                .unwrap();
        if user != Some(ack.user) {
            println!("lost: the place {} promised to {} by a 201 (Postgres says {user:?})", ack.seq, ack.user);
            found.lost_joins += 1;
        }
    }
    found.reused_seqs = duplicates(outcome.joins.iter().map(|ack| ack.seq).collect());
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT user_id FROM queue_entries WHERE show_id = $1
           AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL GROUP BY user_id HAVING count(*) > 1) d",
    )
    .bind(show)
    .fetch_one(db)
    .await
    .unwrap();
    found.doubled_places = doubled as usize;
    found.lost_holds = outcome.lost_holds(HOLD_TTL);
    let sold: Vec<SeatId> = outcome.sales.iter().flat_map(|(_, seats)| seats.clone()).collect();
    found.double_sales = duplicates(sold.clone());
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM sold_seats WHERE show_id = $1")
        .bind(show)
        .fetch_one(db)
        .await
        .unwrap();
    found.unrecorded_sales = (recorded as usize).abs_diff(sold.len());
    found
}

fn duplicates<T: Ord>(mut values: Vec<T>) -> usize {
    let all = values.len();
    values.sort_unstable();
    values.dedup();
    all - values.len()
}

/// Checks every invariant, then that the Redis the deployment ends on has the places.
pub async fn check_invariants(app: &TestApp, show: ShowId, outcome: &Outcome) {
    assert_eq!(violations(app, show, outcome).await, Violations::default());
    redis_has_the_places(app, show, outcome).await;
}

/// The rebuilt Redis knows every live place: joining again with the queue token answers 200
/// with the same seq.
pub async fn redis_has_the_places(app: &TestApp, show: ShowId, outcome: &Outcome) {
    assert_eq!(app.state.sale.backend().mode(), Mode::Redis);
    let db = &app.state.sale.db().pool;
    for ack in &outcome.joins {
        let live: bool = sqlx::query_scalar(
            "SELECT left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL FROM queue_entries
             WHERE show_id = $1 AND seq = $2",
        )
        .bind(show)
        .bind(ack.seq)
        .fetch_one(db)
        .await
        .unwrap();
        if live {
            let again = app.join(show, &ack.queue_token).await;
            assert_eq!((again.status, again.body["seq"].as_i64()), (StatusCode::OK, Some(ack.seq)), "{:?}", again.body);
        }
    }
}

pub async fn written_behind(app: &TestApp) {
    for _ in 0..150 {
        if app.get("/readyz", None).await.body["write_behind"]["backlog"] == 0 {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            if app.get("/readyz", None).await.body["write_behind"]["backlog"] == 0 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the write-behind never caught up");
}

/// A new fan's queue token for the show.
pub async fn joined(app: &TestApp, show: ShowId) -> String {
    let (user, _) = app.user().await;
    app.join(show, &user).await.body["queue_token"].as_str().unwrap().to_string()
}

/// Polls until the fan is active (the workers admit by themselves here).
pub async fn wait_active(app: &TestApp, show: ShowId, token: &str) {
    for _ in 0..100 {
        if app.poll(show, token).await.body["status"] == "active" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never admitted");
}
