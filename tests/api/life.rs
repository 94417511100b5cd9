//! The life of a sale: scheduled, on sale, closed, sold out, ended; each says so to a fan.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Reply, ShowId, TestApp, spawn_app};

fn at(app: &TestApp, from_now: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(app.clock.script_arg() + from_now.as_millis() as i64).unwrap()
}

async fn state_of(app: &TestApp, show: ShowId) -> String {
    app.queue_stats(show).await.body["state"].as_str().unwrap().to_string()
}

fn assert_refused(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "{:?}", reply.body);
}

/// Ends the show's sale now and lets the instance act on it (its workers would within a second).
async fn end_sale(app: &TestApp, show: ShowId) {
    app.configure_queue(show, json!({"ends_at": at(app, Duration::ZERO)})).await;
    app.drain_events("worker").await;
    app.state.sale.follow_endings(true).await;
}

#[tokio::test]
async fn a_scheduled_sale_tells_joiners_it_has_not_opened_and_opens_by_itself() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"on_sale_at": at(&app, Duration::from_secs(60))})).await;
    assert_eq!(state_of(&app, show).await, "scheduled");
    assert_refused(&app.join_new_fan(show).await, StatusCode::CONFLICT, "not_on_sale_yet");
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(state_of(&app, show).await, "on_sale");
    assert_eq!(app.join_new_fan(show).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_closed_sale_takes_nobody_new_and_those_in_line_keep_their_places() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 0})).await;
    let (user, _) = app.user().await;
    let first = app.join(show, &user).await;
    app.configure_queue(show, json!({"closed": true, "admit_per_second": 100, "max_active": 100})).await;
    assert_eq!(state_of(&app, show).await, "closed");
    assert_refused(&app.join_new_fan(show).await, StatusCode::CONFLICT, "sale_closed");
    let again = app.join(show, &user).await;
    assert_eq!((again.status, &again.body["seq"]), (StatusCode::OK, &first.body["seq"]), "{:?}", again.body);
    app.tick().await;
    assert_eq!(app.poll(show, first.body["queue_token"].as_str().unwrap()).await.body["status"], "active");
}

#[tokio::test]
async fn a_show_whose_last_seat_sold_is_sold_out_for_every_joiner() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(1, 2).await;
    let (token, _) = app.active_user(show).await;
    let held = app.post(&format!("/v1/shows/{show}/holds"), Some(&token), json!({"seat_ids": seats})).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let bought = app.post(&format!("/v1/shows/{show}/reservations"), Some(&token), json!({"seat_ids": seats})).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
    assert_eq!(state_of(&app, show).await, "sold_out");
    assert_refused(&app.join_new_fan(show).await, StatusCode::CONFLICT, "sold_out");
}

#[tokio::test]
async fn an_ended_sale_refuses_its_tokens_and_joins_and_keeps_its_history() {
    let app = spawn_app().await;
    let (show, _) = app.open_show(1, 5).await;
    let (active, _) = app.active_user(show).await;
    app.configure_queue(show, json!({"admit_per_second": 0})).await;
    let waiting = app.join_new_fan(show).await;
    let waiting = waiting.body["queue_token"].as_str().unwrap().to_string();
    end_sale(&app, show).await;

    for token in [&active, &waiting] {
        assert_refused(&app.poll(show, token).await, StatusCode::GONE, "show_ended");
        assert_refused(&app.leave(show, token).await, StatusCode::GONE, "show_ended");
    }
    assert_refused(&app.join_new_fan(show).await, StatusCode::GONE, "show_ended");
    let path = format!("/v1/admin/shows/{show}/queue");
    let settings = app.call(Method::PUT, &path, Some(&app.admin_token()), Some(json!({"paused": true}))).await;
    assert_refused(&settings, StatusCode::GONE, "show_ended");
    let stats = app.queue_stats(show).await;
    assert_eq!((stats.body["state"].as_str(), stats.body["joined_total"].as_u64()), (Some("ended"), Some(2)));
}

#[tokio::test]
async fn a_sale_ends_by_itself_when_its_end_comes() {
    let app = spawn_app().await;
    let (show, _) = app.open_show(1, 5).await;
    let (token, _) = app.active_user(show).await;
    app.configure_queue(show, json!({"ends_at": at(&app, Duration::from_secs(30))})).await;
    app.state.sale.follow_endings(true).await;
    assert_eq!(app.poll(show, &token).await.status, StatusCode::OK, "not yet");
    app.clock.advance(Duration::from_secs(31));
    app.drain_events("worker").await;
    app.state.sale.follow_endings(true).await;
    assert_eq!(state_of(&app, show).await, "ended");
    assert_refused(&app.poll(show, &token).await, StatusCode::GONE, "show_ended");
}

/// What Redis keeps of an ended sale: nothing.
mod on_redis {
    use super::*;

    #[tokio::test]
    async fn an_ended_sale_leaves_no_key_in_redis_once_its_history_is_in_postgres() {
        let (redis, app) = crate::support::spawn_app_on_own_redis().await;
        let (show, seats) = app.open_show(1, 5).await;
        let (token, _) = app.active_user(show).await;
        app.post(&format!("/v1/shows/{show}/holds"), Some(&token), json!({"seat_ids": [seats[0]]})).await;
        app.join_new_fan(show).await;
        let base = app.state.sale.redis().keys.show(show).base.clone();
        assert!(!redis.keys_starting(&base).is_empty());
        end_sale(&app, show).await;
        assert_refused(&app.join(show, &token).await, StatusCode::GONE, "show_ended");
        assert_refused(&app.poll(show, &token).await, StatusCode::GONE, "show_ended");
        let left: Vec<String> =
            redis.keys_starting(&base).iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
        assert!(left.is_empty(), "keys left: {left:?}");
        assert!(!app.state.sale.shows().contains(&show), "nothing is done for it any more");
        assert_eq!(app.rows_of("queue_entries", show).await, 2, "Postgres keeps every place");
        assert_eq!(app.queue_stats(show).await.body["joined_total"], 2);
        assert!(redis.keys_starting(&format!("{base}:cfg")).is_empty(), "the stats did not load it back");
    }
}
