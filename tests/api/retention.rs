//! Retention: an ended sale's history can be exported, then goes once kept long enough,
//! while a live sale beside it goes on untouched.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ShowId, TestApp, spawn_app_with};

async fn join_fans(app: &TestApp, show: ShowId, fans: usize) {
    let users = join_all((0..fans).map(|_| app.user())).await;
    let joined = join_all(users.iter().map(|(token, _)| app.join(show, token))).await;
    assert!(joined.iter().all(|reply| reply.status == StatusCode::CREATED));
}

#[tokio::test]
async fn an_ended_sales_history_is_exported_then_deleted_while_a_live_sale_goes_on() {
    let app = spawn_app_with(|settings| {
        settings.retention.queue_history = Duration::ZERO;
        settings.retention.events = Duration::ZERO;
    })
    .await;
    let (ended, _) = app.open_show(1, 5).await;
    let (live, _) = app.open_show(1, 5).await;
    join_fans(&app, ended, 3).await;
    join_fans(&app, live, 3).await;
    app.tick().await;
    app.drain_events("worker").await;
    let long_ago = chrono::DateTime::from_timestamp_millis(app.clock.script_arg() - 60_000).unwrap();
    app.configure_queue(ended, json!({"ends_at": long_ago})).await;

    let mut csv = Vec::new();
    app.state.sale.export_history(ended, &mut csv).await.unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("show_id,seq,user_id,joined_at,admitted_at"), "{csv}");
    assert_eq!(lines.len(), 4, "a header and one row per place: {csv}");

    let (_, report) = tokio::join!(join_fans(&app, live, 20), app.state.sale.apply_retention());
    assert!(report.iter().any(|(_, deleted)| *deleted > 0), "{report:?}");
    assert_eq!(app.rows_of("queue_entries", ended).await, 0);
    assert_eq!(app.rows_of("write_behind_events", ended).await, 0);
    app.drain_events("worker").await;
    if crate::support::backend() == "redis" {
        assert!(app.rows_of("write_behind_events", live).await > 0);
    }
    assert_eq!(app.queue_stats(live).await.body["joined_total"], 23, "the live sale lost nothing");
}
