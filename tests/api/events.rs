//! Server-sent events: a fan's place and the seat map, pushed, and across instances. The
//! pushes ride on the instances' own feeds (the cursor broadcast and the seat channels on
//! Redis; reads and NOTIFY on Postgres), so these tests wait for events with real time.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{EventStream, ShowId, TestApp, spawn_app, spawn_app_with, spawn_instance_of};

/// The contract's bound from a change to its event; the wait a test allows on top of it for
/// a busy machine is [`SLACK`].
const WITHIN: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_secs(2);

fn queue_token(reply: &crate::support::Reply) -> String {
    reply.body["queue_token"].as_str().expect("a queue token").to_string()
}

/// A show that admits one fan at a time: the first fan is active, the others wait.
async fn one_at_a_time(app: &TestApp) -> ShowId {
    let show = app.create_show(2, 5).await;
    app.configure_queue(show, json!({"max_active": 1, "admit_per_second": 100.0})).await;
    show
}

async fn join(app: &TestApp, show: ShowId) -> String {
    let (user, _) = app.user().await;
    queue_token(&app.join(show, &user).await)
}

async fn queue_events(app: &TestApp, show: ShowId, token: &str) -> EventStream {
    app.events(&format!("/v1/shows/{show}/queue/events"), token).await.expect("the stream opens")
}

async fn seat_events(app: &TestApp, show: ShowId, token: &str) -> EventStream {
    app.events(&format!("/v1/shows/{show}/seats/events"), token).await.expect("the stream opens")
}

/// Admits the next waiter once the active fan has left.
async fn make_room(app: &TestApp, show: ShowId, active: &str) {
    let left = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(active), None).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    app.advance(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_waiting_fan_hears_their_position_at_once_then_each_move_then_admission() {
    let app = spawn_app().await;
    let show = one_at_a_time(&app).await;
    let first = join(&app, show).await;
    app.advance(Duration::from_millis(200)).await;
    let second = join(&app, show).await;
    let third = join(&app, show).await;
    let mut stream = queue_events(&app, show, &third).await;
    let now = stream.next_within(SLACK).await.expect("a position at once");
    assert_eq!((now.kind.as_str(), &now.data["position"], &now.data["ahead"]), ("position", &json!(2), &json!(1)));
    assert_eq!(now.data["status"], "waiting");
    assert!(now.id.is_some(), "every event has an id");

    make_room(&app, show, &first).await;
    let moved = stream.next_within(WITHIN + SLACK).await.expect("the move is pushed");
    assert_eq!((moved.kind.as_str(), &moved.data["position"]), ("position", &json!(1)));

    make_room(&app, show, &second).await;
    let admitted = Instant::now();
    let active = stream.next_of("active", WITHIN + SLACK).await.expect("admission is pushed");
    assert!(admitted.elapsed() < WITHIN + SLACK);
    assert!(active.data["active_until"].is_string(), "{:?}", active.data);
}

#[tokio::test]
async fn a_fan_admitted_by_one_instance_hears_it_on_another_within_a_second() {
    let a = spawn_app().await;
    let (b, c) = (spawn_instance_of(&a).await, spawn_instance_of(&a).await);
    let show = one_at_a_time(&a).await;
    let first = join(&b, show).await;
    a.advance(Duration::from_millis(200)).await;
    let waiter = join(&b, show).await;
    let mut stream = queue_events(&c, show, &waiter).await;
    assert_eq!(stream.next_within(SLACK).await.unwrap().kind, "position");

    make_room(&a, show, &first).await;
    let admitted = Instant::now();
    stream.next_of("active", WITHIN + SLACK).await.expect("C pushes A's admission");
    let took = admitted.elapsed();
    assert!(took <= WITHIN, "C took {took:?} to push an admission A made");
}

#[tokio::test]
async fn a_fan_whose_place_is_gone_hears_expired_and_the_stream_ends() {
    let app = spawn_app().await;
    let show = one_at_a_time(&app).await;
    let first = join(&app, show).await;
    app.advance(Duration::from_millis(200)).await;
    let leaver = join(&app, show).await;
    let mut stream = queue_events(&app, show, &leaver).await;
    assert_eq!(stream.next_within(SLACK).await.unwrap().kind, "position");
    let left = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&leaver), None).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    make_room(&app, show, &first).await;
    let expired = stream.next_of("expired", WITHIN + SLACK).await.expect("expired is pushed");
    assert_eq!(expired.data, json!({}));
    assert!(stream.next_within(SLACK).await.is_none(), "the stream ends after expired");
}

#[tokio::test]
async fn an_active_fan_is_told_so_at_once() {
    let app = spawn_app().await;
    let (show, _) = app.open_show(1, 5).await;
    let (token, _) = app.active_user(show).await;
    let mut stream = queue_events(&app, show, &token).await;
    let first = stream.next_within(SLACK).await.unwrap();
    assert_eq!(first.kind, "active");
}

#[tokio::test]
async fn the_seat_stream_starts_with_the_map_and_carries_every_change_made_on_another_instance() {
    let a = spawn_app().await;
    let (b, c) = (spawn_instance_of(&a).await, spawn_instance_of(&a).await);
    let (show, seats) = a.open_show(2, 5).await;
    let (watcher, _) = a.active_user(show).await;
    let (buyer, _) = a.active_user(show).await;
    let mut stream = seat_events(&c, show, &watcher).await;
    let snapshot = stream.next_within(SLACK).await.expect("a snapshot first");
    assert_eq!(snapshot.kind, "snapshot");
    assert_eq!(snapshot.data["seats"].as_array().unwrap().len(), seats.len());
    assert!(snapshot.data["seats"].as_array().unwrap().iter().all(|s| s["status"] == "available"));

    let path = format!("/v1/shows/{show}/holds");
    let held = b.post(&path, Some(&buyer), json!({"seat_ids": [seats[0], seats[1]]})).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let changed = Instant::now();
    let delta = stream.next_of("seats", WITHIN + SLACK).await.expect("the hold is pushed");
    let took = changed.elapsed();
    assert_eq!(delta.data["held"], json!([seats[0], seats[1]]));
    assert!(took <= WITHIN, "C took {took:?} to push a hold made through B");

    let released = b.call(Method::DELETE, &format!("{path}/{}", seats[1]), Some(&buyer), None).await;
    assert_eq!(released.status, StatusCode::NO_CONTENT);
    let delta = stream.next_of("seats", WITHIN + SLACK).await.expect("the release is pushed");
    assert_eq!(delta.data["released"], json!([seats[1]]));

    let bought = b.post(&format!("/v1/shows/{show}/reservations"), Some(&buyer), json!({"seat_ids": [seats[0]]})).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
    let delta = stream.next_of("seats", WITHIN + SLACK).await.expect("the sale is pushed");
    assert_eq!(delta.data["sold"], json!([seats[0]]));
}

#[tokio::test]
async fn a_hold_that_lapses_is_pushed_as_released() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(1, 5).await;
    app.configure_queue(show, json!({"hold_ttl_s": 60, "session_ttl_s": 3600})).await;
    let (watcher, _) = app.active_user(show).await;
    let (holder, _) = app.active_user(show).await;
    let mut stream = seat_events(&app, show, &watcher).await;
    assert_eq!(stream.next_within(SLACK).await.unwrap().kind, "snapshot");
    let held = app.post(&format!("/v1/shows/{show}/holds"), Some(&holder), json!({"seat_ids": [seats[2]]})).await;
    assert_eq!(held.status, StatusCode::CREATED);
    assert_eq!(stream.next_of("seats", WITHIN + SLACK).await.unwrap().data["held"], json!([seats[2]]));

    app.clock.advance(Duration::from_secs(61));
    let lapsed = stream.next_of("seats", WITHIN + SLACK).await.expect("the lapse is pushed");
    assert_eq!(lapsed.data["released"], json!([seats[2]]));
}

#[tokio::test]
async fn a_waiting_fan_may_not_stream_the_seats() {
    let app = spawn_app().await;
    let show = one_at_a_time(&app).await;
    join(&app, show).await;
    app.advance(Duration::from_millis(200)).await;
    let waiter = join(&app, show).await;
    let refused = seat_events_refused(&app, show, &waiter).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "not_active"));
}

async fn seat_events_refused(app: &TestApp, show: ShowId, token: &str) -> crate::support::Reply {
    match app.events(&format!("/v1/shows/{show}/seats/events"), token).await {
        Ok(_) => panic!("the stream should have been refused"),
        Err(reply) => reply,
    }
}

async fn refused(app: &TestApp, request: reqwest::RequestBuilder) -> crate::support::Reply {
    match app.open_events(request).await {
        Ok(_) => panic!("the stream should have been refused"),
        Err(reply) => reply,
    }
}

#[tokio::test]
async fn bad_tokens_and_bad_event_ids_get_the_usual_json_errors() {
    let app = spawn_app().await;
    let show = one_at_a_time(&app).await;
    let other = app.create_show(1, 1).await;
    let token = join(&app, show).await;
    let path = |show: ShowId| app.url(&format!("/v1/shows/{show}/queue/events"));

    let cases = [
        (app.client.get(path(show)), StatusCode::UNAUTHORIZED, "unauthorized"),
        (app.client.get(path(show)).bearer_auth("not.a.jwt"), StatusCode::UNAUTHORIZED, "unauthorized"),
        (app.client.get(format!("{}?access_token=forged", path(show))), StatusCode::UNAUTHORIZED, "unauthorized"),
        (app.client.get(path(other)).bearer_auth(&token), StatusCode::FORBIDDEN, "wrong_show"),
        (app.client.get(path(show)).bearer_auth(app.user().await.0), StatusCode::FORBIDDEN, "queue_token_required"),
        (
            app.client.get(path(show)).bearer_auth(&token).header("Last-Event-ID", "yesterday"),
            StatusCode::BAD_REQUEST,
            "invalid_last_event_id",
        ),
    ];
    for (request, status, code) in cases {
        let reply = refused(&app, request).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{:?}", reply.body);
    }
}

/// The same queue token, signed with the right key, but expired an hour ago.
fn expired_copy(app: &TestApp, token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
    let hour_ago = chrono::Utc::now().timestamp() - 3600;
    (claims["exp"], claims["iat"]) = (json!(hour_ago), json!(hour_ago - 60));
    let key = jsonwebtoken::EncodingKey::from_secret(app.settings.auth.jwt_secret.expose().as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let show = one_at_a_time(&app).await;
    let token = expired_copy(&app, &join(&app, show).await);
    let reply =
        refused(&app, app.client.get(app.url(&format!("/v1/shows/{show}/queue/events"))).bearer_auth(token)).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
}

#[tokio::test]
async fn browsers_may_send_the_token_in_the_query_of_a_stream_and_only_there() {
    let app = spawn_app().await;
    let show = one_at_a_time(&app).await;
    let token = join(&app, show).await;
    let url = app.url(&format!("/v1/shows/{show}/queue/events?access_token={token}"));
    let mut stream = app.open_events(app.client.get(url).header("Last-Event-ID", "12")).await.expect("opens");
    assert_eq!(stream.next_within(SLACK).await.unwrap().kind, "position");
    let poll = app.get(&format!("/v1/shows/{show}/queue?access_token={token}"), None).await;
    assert_eq!(poll.status, StatusCode::UNAUTHORIZED, "a token in the URL of a plain request is not taken");
}

#[tokio::test]
async fn streams_past_the_limit_are_shed_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.http.max_streams = 1;
        s.http.keep_alive = Duration::from_millis(300);
    })
    .await;
    let show = one_at_a_time(&app).await;
    let (one, two) = (join(&app, show).await, join(&app, show).await);
    let open = queue_events(&app, show, &one).await;
    let shed =
        refused(&app, app.client.get(app.url(&format!("/v1/shows/{show}/queue/events"))).bearer_auth(&two)).await;
    assert_eq!((shed.status, shed.code()), (StatusCode::SERVICE_UNAVAILABLE, "too_many_streams"));
    assert!(shed.headers.contains_key("retry-after"));
    // The server finds the client gone when it next writes (a keep-alive at the latest).
    drop(open);
    for _ in 0..50 {
        if app.state.push.streams.open_now() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        app.events(&format!("/v1/shows/{show}/queue/events"), &two).await.is_ok(),
        "a closed stream frees its slot"
    );
}
