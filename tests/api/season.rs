//! A season, not one on-sale: the workers work only on shows where fans are.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, spawn_app, spawn_app_with, spawn_instance_of};

const QUIET: Duration = Duration::from_millis(300);

async fn quick_to_quiet() -> TestApp {
    spawn_app_with(|settings| settings.workers.quiet_after = QUIET).await
}

/// What the workers of an instance would do for a while: ticks, write-behind rounds, and
/// following the registry of live shows.
async fn work_for(app: &TestApp, time: Duration) {
    let until = tokio::time::Instant::now() + time;
    while tokio::time::Instant::now() < until {
        app.tick().await;
        app.drain_events("worker").await;
        app.state.sale.follow_season().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_show_nobody_joined_costs_the_workers_nothing_and_the_first_join_wakes_it_at_once() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    assert!(!app.state.sale.shows().contains(&show));
    app.open_wide(show).await;
    let joined = app.join_new_fan(show).await;
    assert!(app.state.sale.shows().contains(&show), "the join made the show live");
    app.tick().await;
    let token = joined.body["queue_token"].as_str().unwrap();
    assert_eq!(app.poll(show, token).await.body["status"], "active", "admitted on the next tick");
}

#[tokio::test]
async fn a_show_with_fans_waiting_stays_live_however_long_nobody_joins() {
    let app = quick_to_quiet().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 0.0})).await;
    app.join_new_fan(show).await;
    work_for(&app, QUIET * 3).await;
    assert!(app.state.sale.shows().contains(&show));
}

#[tokio::test]
async fn another_instance_learns_of_a_busy_show_from_the_registry_and_ticks_it() {
    let a = spawn_app().await;
    let b = spawn_instance_of(&a).await;
    let (show, _) = a.open_show(1, 5).await;
    let (user, _) = a.user().await;
    let joined = a.join(show, &user).await;
    assert!(!b.state.sale.shows().contains(&show));
    a.state.sale.follow_season().await;
    b.state.sale.follow_season().await;
    assert!(b.state.sale.shows().contains(&show), "b read the registry");
    b.tick().await;
    assert_eq!(b.poll(show, joined.body["queue_token"].as_str().unwrap()).await.body["status"], "active");
}

#[tokio::test]
async fn a_changed_setting_reaches_another_instance_within_a_second() {
    let a = spawn_app().await;
    let b = spawn_instance_of(&a).await;
    let show = a.create_show(1, 5).await;
    let (user, _) = b.user().await;
    assert_eq!(b.join(show, &user).await.status, StatusCode::CREATED, "b knows the show's settings");
    a.configure_queue(show, json!({"pow_bits": 8})).await;
    let changed = tokio::time::Instant::now();
    loop {
        let (user, _) = b.user().await;
        let reply = b.join(show, &user).await;
        if reply.status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(reply.code(), "pow_invalid");
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(1), "b still joins without proof of work");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_show_touched_while_postgres_serves_stays_live_for_the_rebuild_to_copy_it() {
    let app = quick_to_quiet().await;
    app.state.sale.backend().pin(boxoffice::store::Mode::Postgres).await.unwrap();
    let (show, _) = app.open_show(1, 5).await;
    let (queue_token, _) = app.active_user(show).await;
    app.leave(show, &queue_token).await;
    assert!(app.state.sale.db().season().live().await.unwrap().contains(&show), "in the registry at once");
    work_for(&app, QUIET * 3).await;
    assert!(app.state.sale.shows().contains(&show), "quiet, but kept until Redis serves again");
    assert!(app.state.sale.db().season().live().await.unwrap().contains(&show));
}

/// How Redis keeps a quiet show: nothing is written for it, and it leaves the live shows.
mod on_redis {
    use super::*;

    #[tokio::test]
    async fn a_show_whose_line_emptied_goes_quiet_and_a_late_joiner_wakes_it() {
        let app = quick_to_quiet().await;
        let (show, _) = app.open_show(1, 5).await;
        let (queue_token, _) = app.active_user(show).await;
        let left = app.leave(show, &queue_token).await;
        assert_eq!(left.status, StatusCode::NO_CONTENT, "{:?}", left.body);
        work_for(&app, QUIET * 3).await;
        assert!(!app.state.sale.shows().contains(&show), "quiet: nobody waits or is active, streams drained");

        let joined = app.join_new_fan(show).await;
        assert_eq!(joined.status, StatusCode::CREATED);
        assert!(app.state.sale.shows().contains(&show));
        app.tick().await;
        assert_eq!(app.poll(show, joined.body["queue_token"].as_str().unwrap()).await.body["status"], "active");
    }

    #[tokio::test]
    async fn ticks_of_a_show_nobody_is_in_line_for_write_nothing_to_redis() {
        let (redis, app) = crate::support::spawn_app_on_own_redis().await;
        let (show, _) = app.open_show(1, 5).await;
        let (queue_token, _) = app.active_user(show).await;
        app.leave(show, &queue_token).await;
        app.advance(Duration::from_secs(2)).await;
        app.advance(Duration::from_secs(2)).await;
        let before = redis.changes();
        for _ in 0..20 {
            app.advance(Duration::from_millis(100)).await;
        }
        assert_eq!(redis.changes(), before, "20 ticks of an empty line wrote to Redis");
    }
}
