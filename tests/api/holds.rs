//! Seat holds: all-or-nothing, one winner per seat, owner-only release, limits.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use futures::{StreamExt, stream};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Reply, SeatId, ShowId, TestApp, spawn_app};

fn holds_path(show: ShowId) -> String {
    format!("/v1/shows/{show}/holds")
}

/// Admits `n` users at once; returns their queue tokens. (The set-up runs 50 requests at a
/// time: what the tests race is the holds.)
async fn active_users(app: &TestApp, show: ShowId, n: usize) -> Vec<String> {
    app.open_wide(show).await;
    let users: Vec<(String, uuid::Uuid)> =
        stream::iter(0..n).map(|_| app.user()).buffered(SET_UP_AT_ONCE).collect().await;
    let joined: Vec<Reply> =
        stream::iter(&users).map(|(token, _)| app.join(show, token)).buffered(SET_UP_AT_ONCE).collect().await;
    app.tick().await;
    let tokens: Vec<String> = joined
        .iter()
        .map(|r| r.body["queue_token"].as_str().unwrap_or_else(|| panic!("joined: {:?}", r.body)).to_string())
        .collect();
    let polls: Vec<Reply> = stream::iter(&tokens).map(|t| app.poll(show, t)).buffered(SET_UP_AT_ONCE).collect().await;
    assert!(polls.iter().all(|p| p.body["status"] == "active"), "all {n} users are active");
    tokens
}

const SET_UP_AT_ONCE: usize = 50;
/// Holds racing at once. On the Postgres fallback a show's holds take turns on one lock:
/// a thousand at once on one busy core left a request unread for 30 s (actix answered 408).
const RACING_AT_ONCE: usize = 250;

#[tokio::test]
async fn a_thousand_users_racing_for_one_seat_make_exactly_one_hold() {
    let app = spawn_app().await;
    let show = app.create_show(1, 10).await;
    let seat = app.seat_ids(show).await[0];
    let tokens = active_users(&app, show, 1000).await;
    let path = holds_path(show);
    let replies: Vec<Reply> = stream::iter(&tokens)
        .map(|t| app.post(&path, Some(t), json!({"seat_ids": [seat]})))
        .buffer_unordered(RACING_AT_ONCE)
        .collect()
        .await;
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for reply in &replies {
        *by_status.entry(reply.status.as_u16()).or_default() += 1;
    }
    assert_eq!(by_status, HashMap::from([(201, 1), (409, 999)]), "one winner, no 5xx");
    let loser = replies.iter().find(|r| r.status == StatusCode::CONFLICT).unwrap();
    assert_eq!(loser.code(), "seat_unavailable");
    assert_eq!(loser.body["error"]["seat_ids"], json!([seat]));
}

#[tokio::test]
async fn multi_seat_holds_under_contention_are_never_partial() {
    let app = spawn_app().await;
    let show = app.create_show(1, 8).await;
    let seats = app.seat_ids(show).await;
    let tokens = active_users(&app, show, 40).await;
    let wanted: Vec<Vec<SeatId>> =
        (0..40).map(|i| vec![seats[i % 8], seats[(i + 1) % 8], seats[(i + 3) % 8]]).collect();
    let path = holds_path(show);
    let replies =
        join_all(tokens.iter().zip(&wanted).map(|(t, w)| app.post(&path, Some(t), json!({"seat_ids": w})))).await;
    let mut owner: HashMap<SeatId, usize> = HashMap::new();
    for (i, token) in tokens.iter().enumerate() {
        let mine = app.get(&holds_path(show), Some(token)).await.body["seat_ids"].clone();
        let mine: Vec<SeatId> = serde_json::from_value(mine).unwrap();
        if replies[i].status == StatusCode::CREATED {
            let mut expected = wanted[i].clone();
            expected.sort();
            let mut got = mine.clone();
            got.sort();
            assert_eq!(got, expected, "a successful hold has every seat");
        } else {
            assert_eq!(replies[i].status, StatusCode::CONFLICT);
            assert!(mine.is_empty(), "a failed hold has no seat: {mine:?}");
        }
        for seat in mine {
            assert!(owner.insert(seat, i).is_none(), "seat {seat} is held twice");
        }
    }
    assert!(!owner.is_empty());
}

#[tokio::test]
async fn an_expired_hold_can_be_taken_by_someone_else() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    app.configure_queue(show, json!({"hold_ttl_s": 1})).await;
    let seat = app.seat_ids(show).await[0];
    let tokens = active_users(&app, show, 2).await;
    assert_eq!(
        app.post(&holds_path(show), Some(&tokens[0]), json!({"seat_ids": [seat]})).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(&holds_path(show), Some(&tokens[1]), json!({"seat_ids": [seat]})).await.status,
        StatusCode::CONFLICT
    );
    // Hold expiry is Redis' own PX timer, so this one waits in real time.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.clock.advance(Duration::from_millis(1100));
    assert_eq!(
        app.post(&holds_path(show), Some(&tokens[1]), json!({"seat_ids": [seat]})).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn nobody_can_release_another_users_hold() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    let seat = app.seat_ids(show).await[0];
    let tokens = active_users(&app, show, 2).await;
    app.post(&holds_path(show), Some(&tokens[0]), json!({"seat_ids": [seat]})).await;
    let theirs = app.call(Method::DELETE, &format!("{}/{seat}", holds_path(show)), Some(&tokens[1]), None).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.code(), "hold_not_found");
    assert_eq!(app.get(&holds_path(show), Some(&tokens[0])).await.body["seat_ids"], json!([seat]));
    let mine = app.call(Method::DELETE, &format!("{}/{seat}", holds_path(show)), Some(&tokens[0]), None).await;
    assert_eq!(mine.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.post(&holds_path(show), Some(&tokens[1]), json!({"seat_ids": [seat]})).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn holding_beyond_the_per_user_limit_is_422() {
    let app = spawn_app().await;
    let show = app.create_show(1, 10).await;
    let seats = app.seat_ids(show).await;
    let token = active_users(&app, show, 1).await.remove(0);
    let five = app.post(&holds_path(show), Some(&token), json!({"seat_ids": &seats[..5]})).await;
    assert_eq!(five.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(five.code(), "too_many_seats");
    assert_eq!(
        app.post(&holds_path(show), Some(&token), json!({"seat_ids": &seats[..3]})).await.status,
        StatusCode::CREATED
    );
    let two_more = app.post(&holds_path(show), Some(&token), json!({"seat_ids": &seats[3..5]})).await;
    assert_eq!(two_more.status, StatusCode::UNPROCESSABLE_ENTITY, "3 held + 2 more is over 4");
    let again = app.post(&holds_path(show), Some(&token), json!({"seat_ids": &seats[..4]})).await;
    assert_eq!(again.status, StatusCode::CREATED, "re-holding my own seats counts them once");
}

#[tokio::test]
async fn empty_repeated_and_unknown_seat_lists_are_422_and_hold_nothing() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    let other_show = app.create_show(1, 4).await;
    let seats = app.seat_ids(show).await;
    let foreign = app.seat_ids(other_show).await[0];
    let token = active_users(&app, show, 1).await.remove(0);
    for bad in [json!([]), json!([seats[0], seats[0]]), json!([seats[0], foreign]), json!([-1])] {
        let reply = app.post(&holds_path(show), Some(&token), json!({"seat_ids": bad})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(app.get(&holds_path(show), Some(&token)).await.body["seat_ids"], json!([]));
}

#[tokio::test]
async fn waiting_users_cannot_see_seats_or_hold_them() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    app.configure_queue(show, json!({"admit_per_second": 0.0})).await;
    let (user, _) = app.user().await;
    let token = app.join(show, &user).await.body["queue_token"].as_str().unwrap().to_string();
    let seats = app.get(&format!("/v1/shows/{show}/seats"), Some(&token)).await;
    assert_eq!(seats.status, StatusCode::FORBIDDEN);
    assert_eq!(seats.code(), "not_active");
    let seat = app.seat_ids(show).await[0];
    let hold = app.post(&holds_path(show), Some(&token), json!({"seat_ids": [seat]})).await;
    assert_eq!(hold.status, StatusCode::FORBIDDEN);
    assert_eq!(hold.code(), "not_active");
}

#[tokio::test]
async fn the_seat_map_shows_available_held_and_sold_seats() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    let seats = app.seat_ids(show).await;
    let tokens = active_users(&app, show, 3).await;
    app.post(&holds_path(show), Some(&tokens[0]), json!({"seat_ids": [seats[0]]})).await;
    app.post(&holds_path(show), Some(&tokens[1]), json!({"seat_ids": [seats[1]]})).await;
    let sold =
        app.post(&format!("/v1/shows/{show}/reservations"), Some(&tokens[1]), json!({"seat_ids": [seats[1]]})).await;
    assert_eq!(sold.status, StatusCode::CREATED);
    let map = app.get(&format!("/v1/shows/{show}/seats"), Some(&tokens[2])).await;
    assert_eq!(map.status, StatusCode::OK);
    let statuses: Vec<&str> =
        map.body["seats"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["held", "sold", "available", "available"]);
    assert_eq!(map.body["seats"][0]["price"], 50.0);
    assert_eq!(map.body["seats"][0]["row"], "A");
}

/// Tests of how the Redis backend does it (its scripts, keys and caches); skipped when the
/// suite runs against the Postgres fallback.
mod on_redis {
    use super::*;

    #[tokio::test]
    async fn lowering_the_hold_ttl_never_drops_older_holds_from_the_per_user_limit() {
        let app = spawn_app().await;
        let show = app.create_show(1, 10).await;
        let seats = app.seat_ids(show).await;
        let token = active_users(&app, show, 1).await.remove(0);
        app.configure_queue(show, json!({"max_seats_per_user": 2, "hold_ttl_s": 300})).await;
        let path = holds_path(show);
        let first = app.post(&path, Some(&token), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!(first.status, StatusCode::CREATED);
        app.configure_queue(show, json!({"hold_ttl_s": 1})).await;
        let second = app.post(&path, Some(&token), json!({"seat_ids": [seats[1]]})).await;
        assert_eq!(second.status, StatusCode::CREATED);
        let user = app.state.tokens.verify(&token).unwrap().sub;
        let index = app.state.sale.redis().keys.show(show).user_holds(&user);
        let ttl: i64 = app.state.sale.redis().query(redis::Cmd::pttl(index)).await.unwrap();
        assert!(ttl > 250_000, "the user's holds are counted as long as the oldest lasts, not {ttl} ms");
    }
}
