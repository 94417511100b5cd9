//! Places survive a change of backend: joins Redis made that never reached Postgres, and a
//! show Redis lost, come back when their signed queue tokens are presented, ahead of everyone
//! who joined after; tokens that prove nothing are refused and create nothing.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use boxoffice::domain::queue::HOLE_SIZE;
use boxoffice::store::Mode;

use crate::support::{ShowId, TestApp, spawn_app, spawn_app_with, spawn_instance_of};

async fn join_token(app: &TestApp, show: ShowId) -> String {
    let (user, _) = app.user().await;
    let reply = app.join(show, &user).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["queue_token"].as_str().unwrap().to_string()
}

/// A show that admits nobody yet: everyone who joins waits.
async fn waiting_room(app: &TestApp) -> ShowId {
    let show = app.create_show(1, 4).await;
    app.configure_queue(show, json!({"admit_per_second": 0.0})).await;
    show
}

async fn statuses(app: &TestApp, show: ShowId, tokens: &[String]) -> Vec<String> {
    let mut statuses = Vec::new();
    for token in tokens {
        let reply = app.poll(show, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        statuses.push(reply.body["status"].as_str().unwrap().to_string());
    }
    statuses
}

async fn places_in_postgres(app: &TestApp, show: ShowId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM queue_entries WHERE show_id = $1")
        .bind(show)
        .fetch_one(&app.state.sale.db().pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_signed_with_another_secret_or_for_another_show_reinstates_nothing() {
    let app = spawn_app().await;
    let (show, other) = (app.create_show(1, 4).await, app.create_show(1, 4).await);
    let user = uuid::Uuid::new_v4();
    let forged = boxoffice::auth::Tokens::new(
        &boxoffice::config::Secret::new("an attacker's secret of at least 32 chars"),
        Duration::from_secs(600),
    )
    .issue_queue(user, show, 2)
    .token;
    let refused = app.poll(show, &forged).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let elsewhere = app.state.tokens.issue_queue(user, other, 2).token;
    let wrong = app.poll(show, &elsewhere).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::FORBIDDEN, "wrong_show"));
    app.drain_events_if_on_redis().await;
    assert_eq!(places_in_postgres(&app, show).await, 0, "no place was made");
    let stats = app.queue_stats(show).await;
    assert_eq!(stats.body["joined_total"], 0);
}

/// Tests that begin on Redis and take the deployment to Postgres, or make Redis lose a show.
mod on_redis {
    use super::*;

    #[tokio::test]
    async fn joins_redis_never_wrote_behind_keep_their_places_when_postgres_takes_over() {
        let app = spawn_app().await;
        let show = waiting_room(&app).await;
        let early = vec![join_token(&app, show).await, join_token(&app, show).await];
        // The write-behind never ran: Postgres has not heard of these two places.
        app.state.sale.backend().pin(Mode::Postgres).await.unwrap();
        assert_eq!(statuses(&app, show, &early).await, ["waiting", "waiting"], "reinstated from their tokens");
        let late = join_token(&app, show).await;
        let seq = app.state.tokens.verify(&late).unwrap().seq.unwrap();
        assert_eq!(seq, 1 + HOLE_SIZE, "after the hole left for every place Postgres may not know");
        assert_eq!(app.poll(show, &late).await.body["position"], 1, "the hole is not counted as users ahead");

        app.configure_queue(show, json!({"admit_per_second": 100.0, "max_active": 2})).await;
        app.advance(Duration::from_millis(100)).await;
        let all = [early.clone(), vec![late]].concat();
        assert_eq!(statuses(&app, show, &all).await, ["active", "active", "waiting"], "earlier joins first");
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        // (The mode gauge is process-wide, and other tests' instances set it too.)
        assert!(metrics.contains("boxoffice_backend_switches_total{to=\"postgres\"}"), "{metrics}");
        assert!(metrics.contains("boxoffice_queue_reinstated_total"));
    }

    #[tokio::test]
    async fn a_show_redis_lost_comes_back_whole_and_its_unrecorded_places_are_reinstated() {
        let app = spawn_app().await;
        let show = waiting_room(&app).await;
        let recorded = join_token(&app, show).await;
        app.drain_events("worker").await;
        let unrecorded = vec![join_token(&app, show).await, join_token(&app, show).await];
        app.forget_show_in_redis(show).await;

        let late = join_token(&app, show).await;
        assert_eq!(app.state.tokens.verify(&late).unwrap().seq, Some(3 * HOLE_SIZE + 1), "no seq is handed out twice");
        let all = [vec![recorded], unrecorded, vec![late]].concat();
        assert_eq!(statuses(&app, show, &all).await, ["waiting"; 4]);
        app.configure_queue(show, json!({"admit_per_second": 100.0, "max_active": 3})).await;
        app.advance(Duration::from_millis(100)).await;
        assert_eq!(statuses(&app, show, &all).await, ["active", "active", "active", "waiting"], "in join order");
        app.drain_events("worker").await;
        assert_eq!(places_in_postgres(&app, show).await, 4, "the reinstated places are recorded");
    }

    /// What a promoted replica looks like to the scripts: another lineage, and the last join
    /// missing (its increment of seq, its list entry, its membership never replicated).
    async fn fail_over_losing_the_last_join(app: &TestApp, show: ShowId, lost_user: uuid::Uuid) {
        let keys = app.state.sale.redis().keys.show(show);
        let mut pipe = redis::pipe();
        pipe.cmd("DECR").arg(keys.seq()).ignore();
        pipe.cmd("RPOP").arg(keys.waiting()).ignore();
        pipe.cmd("HDEL").arg(keys.member_bucket(&lost_user)).arg(lost_user.as_bytes().as_slice()).ignore();
        pipe.cmd("HSET").arg(keys.config()).arg("lineage").arg("an-old-master").ignore();
        app.state
            .sale
            .redis()
            .run(move |mut conn| async move { pipe.query_async::<()>(&mut conn).await })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn after_a_failover_that_lost_a_join_no_seq_is_handed_out_twice_and_the_lost_place_comes_back() {
        let app = spawn_app().await;
        let show = waiting_room(&app).await;
        let early = vec![join_token(&app, show).await, join_token(&app, show).await];
        let lost = join_token(&app, show).await;
        let lost_claims = app.state.tokens.verify(&lost).unwrap();
        fail_over_losing_the_last_join(&app, show, lost_claims.sub).await;

        let (user, _) = app.user().await;
        let late = app.join(show, &user).await;
        assert_eq!(late.status, StatusCode::CREATED, "{:?}", late.body);
        assert_eq!(late.body["seq"], 2 * HOLE_SIZE + 1, "behind a hole over every seq the old master may have issued");
        assert_eq!(late.body["position"], 3, "the hole is not counted as users ahead");
        let late = late.body["queue_token"].as_str().unwrap().to_string();
        let reinstated = app.poll(show, &lost).await.body;
        assert_eq!(reinstated["status"], "waiting", "reinstated from its token");
        assert_eq!(reinstated["position"], 3, "behind the two places before the hole, not first");

        app.configure_queue(show, json!({"admit_per_second": 100.0, "max_active": 3})).await;
        app.advance(Duration::from_millis(100)).await;
        let all = [early, vec![lost], vec![late]].concat();
        assert_eq!(statuses(&app, show, &all).await, ["active", "active", "active", "waiting"], "in join order");
        app.drain_events("worker").await;
        let holes: Vec<(i64, i64)> = sqlx::query_as("SELECT lo, hi FROM queue_holes WHERE show_id = $1")
            .bind(show)
            .fetch_all(&app.state.sale.db().pool)
            .await
            .unwrap();
        assert_eq!(holes, [(3, 2 * HOLE_SIZE + 1)], "Postgres knows the hole, for the fallback");
    }

    #[tokio::test]
    async fn a_switch_to_postgres_right_after_a_failover_hands_out_none_of_the_seqs_the_new_master_did() {
        let app = spawn_app().await;
        let show = waiting_room(&app).await;
        let early = vec![join_token(&app, show).await, join_token(&app, show).await];
        app.drain_events("worker").await;
        let keys = app.state.sale.redis().keys.show(show);
        app.state.sale.redis().query::<()>(redis::Cmd::hset(keys.config(), "lineage", "an-old-master")).await.unwrap();
        // The promoted master's first join, not yet written behind when Postgres takes over
        // from the same last seq Redis fenced from.
        let on_new_master = join_token(&app, show).await;
        app.state.sale.backend().pin(Mode::Postgres).await.unwrap();
        let on_postgres = join_token(&app, show).await;

        let seq = |token: &String| app.state.tokens.verify(token).unwrap().seq.unwrap();
        assert_ne!(seq(&on_new_master), seq(&on_postgres), "one seq, two fans");
        app.drain_events("worker").await;
        assert_eq!(places_in_postgres(&app, show).await, 4, "the new master's place reached Postgres");
        let all = [early, vec![on_new_master, on_postgres]].concat();
        assert_eq!(statuses(&app, show, &all).await, ["waiting"; 4]);
    }

    #[tokio::test]
    async fn a_config_change_after_a_failover_does_not_hide_it_from_the_next_join() {
        let app = spawn_app().await;
        let show = app.create_show(1, 4).await;
        join_token(&app, show).await;
        let keys = app.state.sale.redis().keys.show(show);
        app.state.sale.redis().query::<()>(redis::Cmd::hset(keys.config(), "lineage", "an-old-master")).await.unwrap();
        app.configure_queue(show, json!({"max_active": 5})).await;
        let next = join_token(&app, show).await;
        assert_eq!(app.state.tokens.verify(&next).unwrap().seq, Some(2 * HOLE_SIZE + 1));
    }

    #[tokio::test]
    async fn a_hold_redis_acknowledged_just_before_the_switch_keeps_its_seat_on_postgres() {
        let app = spawn_app().await;
        let (show, seats) = app.open_show(1, 4).await;
        let ((holder, _), (other, _)) = (app.active_user(show).await, app.active_user(show).await);
        app.drain_events("worker").await;
        let path = format!("/v1/shows/{show}/holds");
        let held = app.post(&path, Some(&holder), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
        // Redis goes away before the write-behind mirrored the hold.
        app.state.sale.backend().move_to_postgres("a test").await.unwrap();

        let early = app.post(&path, Some(&other), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!(early.status, StatusCode::SERVICE_UNAVAILABLE, "no hold is decided before the hand-over");
        assert!(early.headers.contains_key("retry-after"));
        let purchase = json!({"seat_ids": [seats[0]]});
        let reservations = format!("/v1/shows/{show}/reservations");
        let early = app.post(&reservations, Some(&holder), purchase.clone()).await;
        assert_eq!(early.status, StatusCode::SERVICE_UNAVAILABLE, "nor any sale");

        // The old stream reaches Postgres (Redis itself was fine), and every instance has
        // followed the switch (a second).
        app.drain_events("worker").await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        app.drain_events("worker").await;
        let taken = app.post(&path, Some(&other), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!((taken.status, taken.code()), (StatusCode::CONFLICT, "seat_unavailable"), "{:?}", taken.body);
        let bought = app.post(&reservations, Some(&holder), purchase).await;
        assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
        let free = app.post(&path, Some(&other), json!({"seat_ids": [seats[1]]})).await;
        assert_eq!(free.status, StatusCode::CREATED, "{:?}", free.body);
    }

    #[tokio::test]
    async fn a_hold_redis_acknowledged_before_it_became_unreachable_keeps_its_seat_on_postgres() {
        let app = spawn_app_with(|s| s.workers.hold_handover = Duration::from_millis(200)).await;
        let (show, seats) = app.open_show(1, 4).await;
        let ((holder, _), (other, _)) = (app.active_user(show).await, app.active_user(show).await);
        app.drain_events("worker").await;
        let path = format!("/v1/shows/{show}/holds");
        let held = app.post(&path, Some(&holder), json!({"seat_ids": [seats[0], seats[1]]})).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
        let released = app.call(Method::DELETE, &format!("{path}/{}", seats[1]), Some(&holder), None).await;
        assert_eq!(released.status, StatusCode::NO_CONTENT, "{:?}", released.body);
        // Redis goes away before the write-behind mirrored the hold, and its stream is never
        // read: Postgres decides holds once the hand-over's bound has passed.
        app.state.sale.backend().move_to_postgres("a test").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;

        let taken = app.post(&path, Some(&other), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!((taken.status, taken.code()), (StatusCode::CONFLICT, "seat_unavailable"), "{:?}", taken.body);
        let released_seat = app.post(&path, Some(&other), json!({"seat_ids": [seats[1]]})).await;
        assert_eq!(
            released_seat.status,
            StatusCode::CREATED,
            "a released seat is not handed over: {:?}",
            released_seat.body
        );
        let reservations = format!("/v1/shows/{show}/reservations");
        let bought = app.post(&reservations, Some(&holder), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
    }

    /// The instance that acknowledged a hold hands it over at a switch; a release made
    /// through another instance, which reached Postgres, keeps it from coming back.
    #[tokio::test]
    async fn a_hold_released_through_another_instance_stays_released_after_the_switch() {
        let app = spawn_app_with(|s| s.workers.hold_handover = Duration::from_millis(200)).await;
        let other_instance = spawn_instance_of(&app).await;
        let (show, seats) = app.open_show(1, 4).await;
        let ((holder, _), (other, _)) = (app.active_user(show).await, app.active_user(show).await);
        let path = format!("/v1/shows/{show}/holds");
        let held = app.post(&path, Some(&holder), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
        let release = format!("{path}/{}", seats[0]);
        let released = other_instance.call(Method::DELETE, &release, Some(&holder), None).await;
        assert_eq!(released.status, StatusCode::NO_CONTENT, "{:?}", released.body);
        app.drain_events("worker").await;

        app.state.sale.backend().move_to_postgres("a test").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        app.drain_events("worker").await;
        let taken = app.post(&path, Some(&other), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!(taken.status, StatusCode::CREATED, "the released seat is free: {:?}", taken.body);
    }
}
