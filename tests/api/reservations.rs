//! Reservations: Postgres decides; no seat is ever sold twice, whatever Redis does.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use boxoffice::store::HoldCheck;
use boxoffice::store::postgres::reservations::Sale;

use crate::support::{SeatId, ShowId, TestApp, spawn_app};

async fn hold(app: &TestApp, show: ShowId, token: &str, seats: &[SeatId]) {
    let reply = app.post(&format!("/v1/shows/{show}/holds"), Some(token), json!({"seat_ids": seats})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
}

async fn reserve(
    app: &TestApp,
    show: ShowId,
    token: &str,
    seats: &[SeatId],
    key: Option<&str>,
) -> crate::support::Reply {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/shows/{show}/reservations")))
        .bearer_auth(token)
        .json(&json!({"seat_ids": seats}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    app.raw(request).await
}

async fn sold_rows(app: &TestApp, show: ShowId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sold_seats WHERE show_id = $1")
        .bind(show)
        .fetch_one(&app.state.sale.db().pool)
        .await
        .unwrap()
}

/// Simulates a failover that lost a write: the hold key vanishes behind the service's back.
async fn lose_hold_key(app: &TestApp, show: ShowId, seat: SeatId) {
    app.state
        .sale
        .redis()
        .query::<()>(redis::Cmd::del(app.state.sale.redis().keys.show(show).hold(seat)))
        .await
        .unwrap();
}

#[tokio::test]
async fn confirming_held_seats_sells_them_and_gives_the_slot_back() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(1, 6).await;
    let (token, user) = app.active_user(show).await;
    hold(&app, show, &token, &seats[..3]).await;
    let reply = reserve(&app, show, &token, &seats[..2], None).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "confirmed");
    assert_eq!(reply.body["seat_ids"], json!(&seats[..2]));
    assert_eq!(sold_rows(&app, show).await, 2);
    assert_eq!(
        app.get(&format!("/v1/shows/{show}/holds"), Some(&token)).await.body["seat_ids"],
        json!([]),
        "every hold is released"
    );
    assert_eq!(app.poll(show, &token).await.body["status"], "expired", "the active slot is given back");
    assert_eq!(app.state.sale.queue_store().counts(show).await.unwrap().active, 0);
    let (other, _) = app.active_user(show).await;
    let map = app.get(&format!("/v1/shows/{show}/seats"), Some(&other)).await;
    let statuses: Vec<&str> =
        map.body["seats"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses[..3], ["sold", "sold", "available"]);
    let id = reply.body["id"].as_str().unwrap();
    let (fresh_token, _) = app.user().await;
    let mine = app.state.tokens.issue_queue(user, show, 1).token;
    assert_eq!(app.get(&format!("/v1/reservations/{id}"), Some(&mine)).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/v1/reservations/{id}"), Some(&fresh_token)).await.status,
        StatusCode::NOT_FOUND,
        "someone else's"
    );
    let random = uuid::Uuid::new_v4();
    assert_eq!(app.get(&format!("/v1/reservations/{random}"), Some(&mine)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn confirming_without_a_hold_is_409_hold_missing() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(1, 4).await;
    let (token, _) = app.active_user(show).await;
    let (other, _) = app.active_user(show).await;
    hold(&app, show, &other, &seats[..1]).await;
    for attempt in [&seats[..1], &seats[1..2]] {
        let reply = reserve(&app, show, &token, attempt, None).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.code(), "hold_missing");
        assert_eq!(reply.body["error"]["seat_ids"], json!(attempt));
    }
    assert_eq!(sold_rows(&app, show).await, 0);
}

#[tokio::test]
async fn the_same_idempotency_key_never_makes_a_second_reservation() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(1, 4).await;
    let (token, _) = app.active_user(show).await;
    hold(&app, show, &token, &seats[..2]).await;
    let replies = join_all((0..10).map(|_| reserve(&app, show, &token, &seats[..2], Some("order-7")))).await;
    assert!(replies.iter().all(|r| r.status.is_success()), "{:?}", replies.iter().map(|r| &r.body).collect::<Vec<_>>());
    let ids: std::collections::HashSet<&str> = replies.iter().map(|r| r.body["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "every retry returns the same reservation");
    assert_eq!(replies.iter().filter(|r| r.status == StatusCode::CREATED).count(), 1);
    let later = reserve(&app, show, &token, &seats[..2], Some("order-7")).await;
    assert_eq!(later.status, StatusCode::OK);
    assert_eq!(later.body["id"], replies[0].body["id"]);
    let reused = reserve(&app, show, &token, &seats[2..3], Some("order-7")).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.code(), "idempotency_key_reused");
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservations").fetch_one(&app.state.sale.db().pool).await.unwrap();
    assert_eq!(count, 1);
}

/// Postgres' arbiter itself: two sales of one seat that got past every check reach the
/// unique constraint at once; one commits, the other is told the seat is taken.
#[tokio::test]
async fn two_sales_of_one_seat_racing_into_postgres_make_exactly_one_sale() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(1, 4).await;
    let seat = [seats[0]];
    for round in 0..5 {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let sales = app.state.sale.db().sales();
        let (first, second) = tokio::join!(sales.sell(show, a, &seat, None), sales.sell(show, b, &seat, None));
        let outcomes = [first.unwrap(), second.unwrap()];
        let created = outcomes.iter().filter(|o| matches!(o, Sale::Created(_))).count();
        let refused = outcomes.iter().filter(|o| matches!(o, Sale::SeatsTaken(taken) if taken[..] == seat)).count();
        // The first round sells the seat to one of the two; later rounds find it sold.
        let sold_now = usize::from(round == 0);
        assert_eq!((created, refused), (sold_now, 2 - sold_now), "round {round}");
    }
    assert_eq!(sold_rows(&app, show).await, 1, "the seat was sold once, whatever raced");
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_400() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(1, 4).await;
    let (token, _) = app.active_user(show).await;
    hold(&app, show, &token, &seats[..1]).await;
    let long = "k".repeat(201);
    for key in ["", long.as_str()] {
        let reply = reserve(&app, show, &token, &seats[..1], Some(key)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{key:?}");
    }
    assert_eq!(sold_rows(&app, show).await, 0);
}

/// Tests of how the Redis backend does it (its scripts, keys and caches); skipped when the
/// suite runs against the Postgres fallback.
mod on_redis {
    use super::*;

    #[tokio::test]
    async fn a_hold_lost_by_redis_and_regranted_is_bought_by_exactly_one_of_its_two_holders() {
        let app = spawn_app().await;
        let (show, seats) = app.open_show(1, 4).await;
        let seat = seats[0];
        let (first, _) = app.active_user(show).await;
        let (second, _) = app.active_user(show).await;
        hold(&app, show, &first, &[seat]).await;
        lose_hold_key(&app, show, seat).await;
        hold(&app, show, &second, &[seat]).await;
        let one_seat = [seat];
        let (a, b) =
            tokio::join!(reserve(&app, show, &first, &one_seat, None), reserve(&app, show, &second, &one_seat, None));
        let statuses = [a.status, b.status];
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT));
        assert_eq!(sold_rows(&app, show).await, 1);
    }

    #[tokio::test]
    async fn postgres_refuses_a_second_sale_that_redis_no_longer_knows_about() {
        let app = spawn_app().await;
        let (show, seats) = app.open_show(1, 4).await;
        let seat = seats[0];
        let (first, _) = app.active_user(show).await;
        let (second, _) = app.active_user(show).await;
        hold(&app, show, &first, &[seat]).await;
        assert_eq!(reserve(&app, show, &first, &[seat], None).await.status, StatusCode::CREATED);
        // Redis forgets the sale, as a failover to a lagging replica would.
        app.state
            .sale
            .redis()
            .query::<()>(redis::Cmd::del(app.state.sale.redis().keys.show(show).sold()))
            .await
            .unwrap();
        hold(&app, show, &second, &[seat]).await;
        let resale = reserve(&app, show, &second, &[seat], None).await;
        assert_eq!(resale.status, StatusCode::CONFLICT, "{:?}", resale.body);
        assert_eq!(resale.code(), "seat_sold");
        assert_eq!(resale.body["error"]["seat_ids"], json!([seat]));
        assert_eq!(sold_rows(&app, show).await, 1);
        let (third, _) = app.active_user(show).await;
        let retry = app.post(&format!("/v1/shows/{show}/holds"), Some(&third), json!({"seat_ids": [seat]})).await;
        assert_eq!(retry.status, StatusCode::CONFLICT, "the refused sale taught Redis the seat is sold");
    }

    #[tokio::test]
    async fn holds_checked_for_a_sale_cannot_lapse_while_it_commits() {
        let app = spawn_app().await;
        let (show, seats) = app.open_show(1, 4).await;
        app.configure_queue(show, json!({"hold_ttl_s": 1})).await;
        let (token, user) = app.active_user(show).await;
        hold(&app, show, &token, &seats[..2]).await;
        let check = app.state.sale.hold_store().check(show, user, &seats[..2], Duration::from_secs(30)).await.unwrap();
        assert_eq!(check, HoldCheck::AllHeld);
        for seat in &seats[..2] {
            let key = app.state.sale.redis().keys.show(show).hold(*seat);
            let ttl: i64 = app.state.sale.redis().query(redis::Cmd::pttl(key)).await.unwrap();
            assert!(ttl > 25_000, "seat {seat} is kept for the sale, not {ttl} ms");
        }
    }
}
