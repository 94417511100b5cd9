//! Write-behind: every state change reaches Postgres exactly once, in per-show order, even
//! when a consumer dies between writing and acknowledging.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{ShowId, TestApp, spawn_app, spawn_app_with};

type Stamp = chrono::DateTime<chrono::Utc>;

/// Ids of every entry now in the show's stream, in stream order.
async fn stream_ids(app: &TestApp, show: ShowId) -> Vec<String> {
    let key = app.state.sale.redis().keys.show(show).events();
    let reply: redis::streams::StreamRangeReply =
        app.state.sale.redis().query(redis::Cmd::xrange_all(key)).await.unwrap();
    reply.ids.into_iter().map(|e| e.id).collect()
}

/// `<ms>-<n>` of the show's events in Postgres, in the order they arrived.
async fn recorded_ids(app: &TestApp, show: ShowId) -> Vec<String> {
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT stream_ms, stream_seq FROM write_behind_events WHERE show_id = $1 ORDER BY id")
            .bind(show)
            .fetch_all(&app.state.sale.db().pool)
            .await
            .unwrap();
    rows.into_iter().map(|(ms, n)| format!("{ms}-{n}")).collect()
}

async fn kinds(app: &TestApp, show: ShowId) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM write_behind_events WHERE show_id = $1 ORDER BY id")
        .bind(show)
        .fetch_all(&app.state.sale.db().pool)
        .await
        .unwrap()
}

/// Joins, admissions, a claim, holds, a release, a sale, a leave and an expiry in one show.
async fn scripted_sale(app: &TestApp, show: ShowId) {
    app.configure_queue(show, json!({"admit_per_second": 1000.0, "max_active": 3, "claim_window_s": 30})).await;
    let seats = app.seat_ids(show).await;
    let mut tokens = Vec::new();
    for _ in 0..4 {
        let (user, _) = app.user().await;
        tokens.push(app.join(show, &user).await.body["queue_token"].as_str().unwrap().to_string());
    }
    app.tick().await;
    let holds = format!("/v1/shows/{show}/holds");
    assert_eq!(
        app.post(&holds, Some(&tokens[0]), json!({"seat_ids": [seats[0], seats[1]]})).await.status,
        StatusCode::CREATED
    );
    let released = app.call(Method::DELETE, &format!("{holds}/{}", seats[1]), Some(&tokens[0]), None).await;
    assert_eq!(released.status, StatusCode::NO_CONTENT);
    let sale =
        app.post(&format!("/v1/shows/{show}/reservations"), Some(&tokens[0]), json!({"seat_ids": [seats[0]]})).await;
    assert_eq!(sale.status, StatusCode::CREATED);
    let left = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&tokens[1]), None).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    app.advance(Duration::from_secs(31)).await;
}

#[tokio::test]
async fn the_events_of_a_scripted_sale_reach_postgres_exactly_once_and_in_order() {
    let app = spawn_app().await;
    let shows = [app.create_show(1, 4).await, app.create_show(1, 4).await];
    for show in shows {
        scripted_sale(&app, show).await;
    }
    let in_redis = [stream_ids(&app, shows[0]).await, stream_ids(&app, shows[1]).await];
    app.drain_events("worker-a").await;
    app.drain_events("worker-b").await;
    for (show, expected) in shows.iter().zip(&in_redis) {
        assert_eq!(&recorded_ids(&app, *show).await, expected, "show {show}: every event once, in stream order");
        let kinds = kinds(&app, *show).await;
        for kind in ["join", "admit", "claim", "hold", "release", "sold", "confirm", "leave", "expire"] {
            assert!(kinds.iter().any(|k| k == kind), "show {show} recorded a {kind} event: {kinds:?}");
        }
    }
    let buyer: (Option<Stamp>, Option<Stamp>, Option<Stamp>) = sqlx::query_as(
        "SELECT admitted_at, claimed_at, confirmed_at FROM queue_entries WHERE show_id = $1 AND seq = 1",
    )
    .bind(shows[0])
    .fetch_one(&app.state.sale.db().pool)
    .await
    .unwrap();
    assert!(buyer.0.is_some() && buyer.1.is_some() && buyer.2.is_some(), "{buyer:?}");
    let stamps: (Option<Stamp>, Option<Stamp>) = sqlx::query_as(
        "SELECT (SELECT left_at FROM queue_entries WHERE show_id = $1 AND seq = 2),
                (SELECT expired_at FROM queue_entries WHERE show_id = $1 AND seq = 3)",
    )
    .bind(shows[0])
    .fetch_one(&app.state.sale.db().pool)
    .await
    .unwrap();
    assert!(stamps.0.is_some(), "the leaver's left_at");
    assert!(stamps.1.is_some(), "the no-show's expired_at");
}

#[tokio::test]
async fn a_consumer_that_dies_before_acknowledging_is_taken_over_without_duplicates() {
    let app = spawn_app_with(|s| s.workers.write_behind_lease = Duration::from_millis(800)).await;
    let show = app.create_show(1, 4).await;
    for _ in 0..30 {
        let (user, _) = app.user().await;
        app.join(show, &user).await;
    }
    let all = stream_ids(&app, show).await;
    let lease = app.settings.workers.write_behind_lease;
    assert!(app.state.sale.events().lease(&app.state.sale.events().home(show), "doomed", lease).await.unwrap());
    let batch = app.state.sale.events().new_entries(&app.state.sale.events().home(show), "doomed", 20).await.unwrap();
    app.state.sale.db().write_behind().record_events(show, 0, &batch[..12], true).await.unwrap();
    // "doomed" dies here: 12 of its 20 entries written, none acknowledged, lease held.
    app.drain_events("survivor").await;
    assert!(recorded_ids(&app, show).await.len() == 12, "the lease keeps others out while it lasts");
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    app.drain_events("survivor").await;
    assert_eq!(recorded_ids(&app, show).await, all, "each event exactly once, in order");
    let stats = app.state.sale.events().stats(&app.state.sale.events().home(show)).await.unwrap();
    assert_eq!(stats.unacked, 0, "everything acknowledged");
}

#[tokio::test]
async fn entries_read_just_before_a_lease_lapsed_are_written_before_newer_ones() {
    let app = spawn_app_with(|s| s.workers.write_behind_lease = Duration::from_millis(1000)).await;
    let show = app.create_show(1, 4).await;
    app.configure_queue(show, json!({"max_active": 3, "admit_per_second": 1000.0})).await;
    for _ in 0..6 {
        let (user, _) = app.user().await;
        app.join(show, &user).await;
    }
    let lease = app.settings.workers.write_behind_lease;
    assert!(app.state.sale.events().lease(&app.state.sale.events().home(show), "slow", lease).await.unwrap());
    tokio::time::sleep(lease * 7 / 10).await;
    // "slow" reads the joins late in its lease and stalls; admissions follow in the stream.
    assert_eq!(
        app.state.sale.events().new_entries(&app.state.sale.events().home(show), "slow", 100).await.unwrap().len(),
        6
    );
    app.tick().await;
    tokio::time::sleep(lease * 4 / 10).await;
    app.drain_events("next").await;
    let admitted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM queue_entries WHERE show_id = $1 AND seq <= 3 AND admitted_at IS NOT NULL",
    )
    .bind(show)
    .fetch_one(&app.state.sale.db().pool)
    .await
    .unwrap();
    assert_eq!(admitted, 3, "the joins were written before the admissions that update them");
}

#[tokio::test]
async fn the_stream_is_never_trimmed_past_an_unacknowledged_entry() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    for _ in 0..20 {
        let (user, _) = app.user().await;
        app.join(show, &user).await;
    }
    let all = stream_ids(&app, show).await;
    let events = app.state.sale.events();
    let stream = events.home(show);
    events.ensure_group(&stream).await.unwrap();
    let slow = events.new_entries(&stream, "slow", 5).await.unwrap();
    let fast = events.new_entries(&stream, "fast", 5).await.unwrap();
    events.ack(&stream, &fast.iter().map(|e| e.id.clone()).collect::<Vec<_>>()).await.unwrap();
    events.trim_acknowledged(&stream).await.unwrap();
    assert_eq!(stream_ids(&app, show).await, all, "the oldest entry is unacknowledged: nothing may go");
    events.ack(&stream, &slow.iter().map(|e| e.id.clone()).collect::<Vec<_>>()).await.unwrap();
    events.trim_acknowledged(&stream).await.unwrap();
    assert_eq!(stream_ids(&app, show).await, all[9..], "trimmed up to the last delivered entry, undelivered ones kept");
}

#[tokio::test]
async fn the_worker_reports_its_backlog_in_metrics_and_readiness() {
    let app = spawn_app_with(|s| s.workers.enabled = true).await;
    let show = app.create_show(1, 4).await;
    for _ in 0..5 {
        let (user, _) = app.user().await;
        app.join(show, &user).await;
    }
    let mut recorded = 0;
    for _ in 0..100 {
        recorded = recorded_ids(&app, show).await.len();
        if recorded >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recorded >= 5, "the background worker wrote the joins");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.body["write_behind"]["backlog"], 0, "{:?}", ready.body);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "boxoffice_writebehind_stream_length",
        "boxoffice_writebehind_unacked",
        "boxoffice_writebehind_oldest_unacked_seconds",
        "boxoffice_writebehind_events_written_total",
    ] {
        assert!(metrics.contains(name), "{name} is exported");
    }
}

#[tokio::test]
async fn a_consumer_group_redis_lost_is_made_again_and_every_event_is_recorded_once() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    let (first, _) = app.user().await;
    app.join(show, &first).await;
    app.drain_events("worker").await;
    let key = app.state.sale.redis().keys.show(show).events();
    let mut destroy = redis::cmd("XGROUP");
    destroy.arg("DESTROY").arg(&key).arg(boxoffice::store::redis::events::GROUP);
    assert_eq!(app.state.sale.redis().query::<i64>(destroy).await.unwrap(), 1);

    let (second, _) = app.user().await;
    app.join(show, &second).await;
    app.drain_events("worker").await; // finds the group gone and makes it again
    app.drain_events("worker").await;
    assert_eq!(kinds(&app, show).await, ["join", "join"], "both joins, once each");
}

#[tokio::test]
async fn an_entry_of_a_kind_this_version_does_not_know_is_acknowledged_and_skipped() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    app.state.sale.events().ensure_group(&app.state.sale.events().home(show)).await.unwrap();
    let key = app.state.sale.redis().keys.show(show).events();
    let mut newer = redis::cmd("XADD");
    newer.arg(&key).arg("*").arg("k").arg("teleport").arg("u").arg("");
    app.state.sale.redis().query::<String>(newer).await.unwrap();
    let (user, _) = app.user().await;
    app.join(show, &user).await;
    app.drain_events("worker").await;

    assert_eq!(kinds(&app, show).await, ["join"]);
    let mut pending = redis::cmd("XPENDING");
    pending.arg(&key).arg(boxoffice::store::redis::events::GROUP).arg("-").arg("+").arg(10);
    let entries: Vec<redis::Value> = app.state.sale.redis().query(pending).await.unwrap();
    assert!(entries.is_empty(), "nothing stays pending: {entries:?}");
}
