//! Proof of work per show: a join must carry a solved challenge that was issued to this user
//! for this show, hasn't expired and wasn't used; a fan refreshing with their queue token
//! proves their place and needs none.

use std::time::Duration;

use boxoffice::domain::pow::{self, CHALLENGE_TTL_MS};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Reply, ShowId, TestApp, spawn_app};

/// Few enough bits for a test to solve in a blink.
const BITS: u32 = 8;

async fn show_with_pow(app: &TestApp) -> ShowId {
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"pow_bits": BITS})).await;
    show
}

async fn challenge(app: &TestApp, show: ShowId, user: &str) -> String {
    let reply = app.get(&format!("/v1/shows/{show}/challenge"), Some(user)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["bits"], BITS);
    assert!(reply.body["expires_at"].is_string());
    reply.body["challenge"].as_str().unwrap().to_string()
}

async fn join_with(app: &TestApp, show: ShowId, user: &str, body: Value) -> Reply {
    app.post(&format!("/v1/shows/{show}/queue"), Some(user), body).await
}

fn solved(challenge: &str) -> Value {
    json!({"pow": {"challenge": challenge, "nonce": pow::solve(challenge, BITS)}})
}

fn assert_pow_invalid(reply: &Reply) {
    assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, "pow_invalid"), "{:?}", reply.body);
}

#[tokio::test]
async fn a_join_with_a_solved_challenge_gets_a_place_and_the_challenge_is_spent() {
    let app = spawn_app().await;
    let show = show_with_pow(&app).await;
    let (user, _) = app.user().await;
    let text = challenge(&app, show, &user).await;
    let joined = join_with(&app, show, &user, solved(&text)).await;
    assert_eq!(joined.status, StatusCode::CREATED, "{:?}", joined.body);
    assert_pow_invalid(&join_with(&app, show, &user, solved(&text)).await);

    let queue_token = joined.body["queue_token"].as_str().unwrap();
    let refresh = join_with(&app, show, queue_token, json!({})).await;
    assert_eq!(refresh.status, StatusCode::OK, "a queue token proves the place: no new proof needed");
}

#[tokio::test]
async fn a_pre_queued_fan_joining_again_with_their_pre_queue_token_needs_no_new_proof() {
    let app = spawn_app().await;
    let show = show_with_pow(&app).await;
    let opens_at = chrono::DateTime::from_timestamp_millis(app.clock.script_arg() + 60_000).unwrap();
    app.configure_queue(show, json!({"opens_at": opens_at})).await;
    let (user, _) = app.user().await;
    let text = challenge(&app, show, &user).await;
    let joined = join_with(&app, show, &user, solved(&text)).await;
    assert_eq!((joined.status, joined.body["status"].as_str()), (StatusCode::CREATED, Some("pre_queue")));
    let pre_queue_token = joined.body["queue_token"].as_str().unwrap();
    let again = join_with(&app, show, pre_queue_token, json!({})).await;
    assert_eq!((again.status, again.body["status"].as_str()), (StatusCode::OK, Some("pre_queue")), "{:?}", again.body);
    assert_pow_invalid(&join_with(&app, show, &user, json!({})).await);
}

#[tokio::test]
async fn missing_wrong_expired_and_someone_elses_solutions_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let show = show_with_pow(&app).await;
    let (user, _) = app.user().await;
    let (other, _) = app.user().await;

    assert_pow_invalid(&join_with(&app, show, &user, json!({})).await);
    let theirs = challenge(&app, show, &other).await;
    assert_pow_invalid(&join_with(&app, show, &user, solved(&theirs)).await);
    let mine = challenge(&app, show, &user).await;
    let wrong = (0..).map(|n: u64| n.to_string()).find(|n| {
        let hash = <sha2::Sha256 as sha2::Digest>::digest(format!("{mine}:{n}"));
        pow::leading_zero_bits(&hash) < BITS
    });
    assert_pow_invalid(&join_with(&app, show, &user, json!({"pow": {"challenge": mine, "nonce": wrong}})).await);
    let forged = mine.replacen(&show.to_string(), &(show.0 + 1).to_string(), 1);
    assert_pow_invalid(&join_with(&app, show, &user, solved(&forged)).await);
    let other_show = show_with_pow(&app).await;
    let for_elsewhere = challenge(&app, other_show, &user).await;
    assert_pow_invalid(&join_with(&app, show, &user, solved(&for_elsewhere)).await);

    let expiring = challenge(&app, show, &user).await;
    app.clock.advance(Duration::from_millis(CHALLENGE_TTL_MS as u64 + 1));
    assert_pow_invalid(&join_with(&app, show, &user, solved(&expiring)).await);
    let stats = app.queue_stats(show).await;
    assert_eq!(stats.body["joined_total"], 0, "no refused join took a place");

    let fresh = challenge(&app, show, &user).await;
    assert_eq!(join_with(&app, show, &user, solved(&fresh)).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_show_without_proof_of_work_takes_joins_as_before() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    let (user, _) = app.user().await;
    assert_eq!(app.join(show, &user).await.status, StatusCode::CREATED);
    let bad = join_with(&app, show, &user, json!({"pow": 1})).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_body"));
}

#[tokio::test]
async fn pow_bits_past_32_are_refused() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    let reply = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/admin/shows/{show}/queue"),
            Some(&app.admin_token()),
            Some(json!({"pow_bits": 33})),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"));
}
