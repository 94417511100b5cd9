//! Postgres goes away for 30 s under load: the event streams grow, nothing is lost, and
//! everything arrives exactly once after it comes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use boxoffice::clock::Clock;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{PrivatePostgres, ShowId, TestApp, start, test_settings_on};

/// Joins new users until `stop` is set; returns how many joins were answered 201.
async fn join_load(app: Arc<TestApp>, show: ShowId, stop: Arc<AtomicBool>, joined: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let (user, _) = app.user().await;
        if app.join(show, &user).await.status == StatusCode::CREATED {
            joined.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_thirty_seconds_under_load_loses_no_event() {
    let postgres = PrivatePostgres::start();
    let nodes = std::env::var("REDIS_CLUSTER_NODES").expect("run with scripts/test.sh");
    let mut settings = test_settings_on(&postgres.url, ("REDIS_CLUSTER_NODES", nodes)).await;
    settings.workers.enabled = true;
    settings.database.timeout = Duration::from_millis(500);
    let app = Arc::new(start(settings, Clock::RedisServer).await);
    let show = app.create_show(1, 10).await;
    app.configure_queue(show, json!({"admit_per_second": 20.0, "max_active": 100000, "claim_window_s": 3600})).await;

    let (stop, joined) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let load = tokio::spawn(join_load(app.clone(), show, stop.clone(), joined.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    postgres.stop();
    let stopped_at = Instant::now();
    wait_for("readiness to report postgres down", Duration::from_secs(10), async || {
        app.get("/readyz", None).await.body["postgres"] == "down"
    })
    .await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "Redis still serves the queue: {:?}", ready.body);
    let joins_before_outage_end = joined.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(stopped_at.elapsed())).await;
    let backlog = app.get("/readyz", None).await.body["write_behind"]["backlog"].as_u64().unwrap();
    assert!(backlog > 100, "the stream grew while Postgres was down: {backlog}");
    assert!(joined.load(Ordering::Relaxed) > joins_before_outage_end + 100, "joins went on during the outage");

    postgres.restart();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();

    // No new events from here on: nobody joins, nobody is admitted, nobody expires.
    app.configure_queue(show, json!({"paused": true})).await;
    let db = &app.state.sale.db().pool;
    let stream = app.state.sale.redis().keys.show(show).events();
    let recorded = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM write_behind_events WHERE show_id = $1")
            .bind(show)
            .fetch_one(db)
            .await
            .unwrap()
    };
    let added = async || -> i64 {
        let info: std::collections::HashMap<String, redis::Value> = app
            .state
            .sale
            .redis()
            .query(redis::Cmd::new().arg("XINFO").arg("STREAM").arg(&stream).clone())
            .await
            .unwrap();
        redis::from_redis_value(info["entries-added"].clone()).unwrap()
    };
    wait_for("every event the stream took to reach Postgres", Duration::from_secs(60), async || {
        recorded().await == added().await
    })
    .await;
    let ready = app.get("/readyz", None).await.body;
    assert_eq!(ready["postgres"], "up");

    let joins: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0),
                (SELECT coalesce(sum(cardinality(user_ids)), 0) FROM write_behind_events
                 WHERE show_id = $1 AND kind = 'join')
         FROM queue_entries WHERE show_id = $1",
    )
    .bind(show)
    .fetch_one(db)
    .await
    .unwrap();
    let total = joined.load(Ordering::Relaxed) as i64;
    assert_eq!(joins, (total, total, total, total), "every join exactly once, seqs 1..={total}");
    let admitted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM queue_entries WHERE show_id = $1 AND admitted_at IS NOT NULL")
            .bind(show)
            .fetch_one(db)
            .await
            .unwrap();
    assert_eq!(admitted as u64, app.state.sale.queue_store().counts(show).await.unwrap().admitted_total);
}
