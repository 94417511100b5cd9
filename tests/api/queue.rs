//! The waiting queue: idempotent joins, fair admission in join order, positions that never
//! go up, a bounded active set at the configured rate, claim windows and sessions. Time is
//! the injected clock: no sleeps.

use std::collections::HashSet;
use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{ShowId, TestApp, spawn_app, spawn_instance_of};

fn queue_token(reply: &crate::support::Reply) -> String {
    reply.body["queue_token"].as_str().expect("a queue token").to_string()
}

async fn joined_users(app: &TestApp, show: ShowId, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..n {
        let (user, _) = app.user().await;
        tokens.push(queue_token(&app.join(show, &user).await));
    }
    tokens
}

async fn statuses(app: &TestApp, show: ShowId, tokens: &[String]) -> Vec<String> {
    let replies = join_all(tokens.iter().map(|t| app.poll(show, t))).await;
    replies.iter().map(|r| r.body["status"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn joining_twice_keeps_the_same_place_and_seq() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    let (user, _) = app.user().await;
    let first = app.join(show, &user).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.body["status"], "waiting");
    assert_eq!(first.body["position"], 1);
    assert_eq!(first.body["ahead"], 0);
    assert!(first.body["eta_seconds"].is_null(), "no admission rate is known yet");
    let again = app.join(show, &user).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["seq"], first.body["seq"]);
    assert_eq!(again.body["position"], first.body["position"]);
    let claims = app.state.tokens.verify(&queue_token(&again)).unwrap();
    assert_eq!((claims.show, claims.seq), (Some(show), Some(1)));
}

#[tokio::test]
async fn fifty_simultaneous_joins_by_one_user_make_one_place() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    joined_users(&app, show, 3).await;
    let (user, _) = app.user().await;
    let replies = join_all((0..50).map(|_| app.join(show, &user))).await;
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let seqs: HashSet<i64> = replies.iter().map(|r| r.body["seq"].as_i64().unwrap()).collect();
    assert_eq!(created, 1, "exactly one join creates the place");
    assert!(replies.iter().all(|r| r.status.is_success()));
    assert_eq!(seqs, HashSet::from([4]));
    let stats = app.queue_stats(show).await;
    assert_eq!(stats.body["joined_total"], 4);
}

#[tokio::test]
async fn users_are_admitted_in_join_order_across_several_shows() {
    let app = spawn_app().await;
    let shows = [app.create_show(1, 5).await, app.create_show(1, 5).await, app.create_show(1, 5).await];
    for show in shows {
        app.configure_queue(show, json!({"admit_per_second": 5.0, "max_active": 1000})).await;
    }
    let mut queues: Vec<Vec<String>> = vec![Vec::new(); 3];
    for _ in 0..6 {
        for (i, show) in shows.iter().enumerate() {
            let (user, _) = app.user().await;
            queues[i].push(queue_token(&app.join(*show, &user).await));
        }
    }
    for round in 1..=6 {
        app.advance(Duration::from_millis(200)).await;
        for (i, show) in shows.iter().enumerate() {
            let now = statuses(&app, *show, &queues[i]).await;
            let active = now.iter().take_while(|s| *s == "active").count();
            assert_eq!(active, round, "show {show} after {round} ticks: {now:?}");
            assert!(now[round..].iter().all(|s| s == "waiting"), "nobody behind was admitted first: {now:?}");
        }
    }
}

#[tokio::test]
async fn a_waiting_users_position_only_goes_down() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 10.0, "max_active": 1000})).await;
    let tokens = joined_users(&app, show, 30).await;
    let last = tokens.last().unwrap();
    let mut previous = app.poll(show, last).await.body["position"].as_u64().unwrap();
    assert_eq!(previous, 30);
    while app.poll(show, last).await.body["status"] == "waiting" {
        app.advance(Duration::from_millis(300)).await;
        let reply = app.poll(show, last).await;
        if reply.body["status"] != "waiting" {
            break;
        }
        let position = reply.body["position"].as_u64().unwrap();
        assert!(position <= previous, "position went up from {previous} to {position}");
        assert_eq!(reply.body["ahead"].as_u64().unwrap(), position - 1);
        previous = position;
    }
    assert_eq!(app.poll(show, last).await.body["status"], "active");
}

#[tokio::test]
async fn the_back_of_a_long_queue_is_told_to_poll_less_often() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"paused": false, "admit_per_second": 0.0})).await;
    let tokens = joined_users(&app, show, 400).await;
    let front = app.poll(show, &tokens[0]).await.body["poll_after_ms"].as_u64().unwrap();
    let back = app.poll(show, &tokens[399]).await.body["poll_after_ms"].as_u64().unwrap();
    assert!(front <= 1_200, "the front polls about every second: {front}");
    assert!(back >= 4 * front, "the back polls far less often: {back} vs {front}");
}

#[tokio::test]
async fn the_active_set_never_exceeds_max_active_with_three_instances_admitting() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 1000.0, "max_active": 10, "claim_window_s": 2})).await;
    let others = [spawn_instance_of(&app).await, spawn_instance_of(&app).await];
    joined_users(&app, show, 60).await;
    for step in 0..40 {
        app.clock.advance(Duration::from_millis(100));
        tokio::join!(app.tick(), others[0].tick(), others[1].tick());
        let counts = app.state.sale.queue_store().counts(show).await.unwrap();
        assert!(counts.active <= 10, "step {step}: {} active", counts.active);
        if step == 5 {
            assert_eq!(counts.active, 10, "the set fills up to max_active");
        }
    }
    let counts = app.state.sale.queue_store().counts(show).await.unwrap();
    assert!(counts.admitted_total > 10, "unclaimed slots came back and went to the next waiters");
}

#[tokio::test]
async fn three_instances_together_admit_at_the_configured_rate_not_three_times_it() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 20.0, "max_active": 100000})).await;
    let others = [spawn_instance_of(&app).await, spawn_instance_of(&app).await];
    joined_users(&app, show, 150).await;
    app.tick().await;
    let start = app.state.sale.queue_store().counts(show).await.unwrap().admitted_total;
    for _ in 0..50 {
        app.clock.advance(Duration::from_millis(100));
        tokio::join!(app.tick(), others[0].tick(), others[1].tick());
    }
    let admitted = app.state.sale.queue_store().counts(show).await.unwrap().admitted_total - start;
    assert!((99..=101).contains(&admitted), "5 s at 20/s admits 100, got {admitted}");
}

#[tokio::test]
async fn an_admitted_user_who_never_shows_up_loses_the_slot_after_the_claim_window() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 100.0, "max_active": 1, "claim_window_s": 60})).await;
    let tokens = joined_users(&app, show, 2).await;
    app.tick().await;
    app.clock.advance(Duration::from_secs(59));
    app.tick().await;
    assert_eq!(
        app.state.sale.queue_store().counts(show).await.unwrap().admitted_total,
        1,
        "the slot is still reserved"
    );
    app.advance(Duration::from_secs(2)).await;
    app.advance(Duration::from_millis(100)).await;
    assert_eq!(statuses(&app, show, &tokens).await, ["expired", "active"]);
}

#[tokio::test]
async fn a_claimed_session_lasts_the_session_ttl_then_expires() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(
        show,
        json!({"admit_per_second": 100.0, "max_active": 5, "claim_window_s": 60, "session_ttl_s": 300}),
    )
    .await;
    let token = joined_users(&app, show, 1).await.remove(0);
    app.tick().await;
    let claimed = app.poll(show, &token).await;
    assert_eq!(claimed.body["status"], "active");
    let until = chrono::DateTime::parse_from_rfc3339(claimed.body["active_until"].as_str().unwrap()).unwrap();
    let expected = match &app.clock {
        boxoffice::clock::Clock::Manual(ms) => ms.load(std::sync::atomic::Ordering::SeqCst) + 300_000,
        _ => unreachable!(),
    };
    assert_eq!(until.timestamp_millis(), expected, "the claim turns the window into the full session");
    app.advance(Duration::from_secs(120)).await;
    assert_eq!(app.poll(show, &token).await.body["status"], "active", "past the claim window, within the session");
    app.advance(Duration::from_secs(181)).await;
    assert_eq!(app.poll(show, &token).await.body["status"], "expired");
    assert_eq!(app.state.sale.queue_store().counts(show).await.unwrap().active, 0);
}

#[tokio::test]
async fn leaving_gives_the_active_slot_back_at_once() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 100.0, "max_active": 1})).await;
    let tokens = joined_users(&app, show, 2).await;
    app.tick().await;
    assert_eq!(statuses(&app, show, &tokens).await, ["active", "waiting"]);
    let left = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&tokens[0]), None).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    app.advance(Duration::from_millis(100)).await;
    assert_eq!(statuses(&app, show, &tokens).await, ["expired", "active"]);
    let again = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&tokens[0]), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.code(), "not_in_queue");
}

#[tokio::test]
async fn a_waiter_who_leaves_is_skipped_and_can_rejoin_at_the_back() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 0.0})).await;
    let (leaver, _) = app.user().await;
    let first = app.join(show, &leaver).await;
    let others = joined_users(&app, show, 2).await;
    let left = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&queue_token(&first)), None).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    assert_eq!(app.state.sale.queue_store().counts(show).await.unwrap().waiting, 2);
    let rejoined = app.join(show, &leaver).await;
    assert_eq!(rejoined.status, StatusCode::CREATED);
    assert_eq!(rejoined.body["seq"], 4);
    app.configure_queue(show, json!({"admit_per_second": 100.0, "max_active": 2})).await;
    app.advance(Duration::from_millis(100)).await;
    assert_eq!(statuses(&app, show, &others).await, ["active", "active"]);
    assert_eq!(app.poll(show, &queue_token(&rejoined)).await.body["status"], "waiting");
}

#[tokio::test]
async fn a_paused_queue_refuses_joins_with_queue_closed_and_admits_nobody() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    let waiting = joined_users(&app, show, 1).await;
    app.configure_queue(show, json!({"paused": true, "admit_per_second": 100.0})).await;
    let (user, _) = app.user().await;
    let refused = app.join(show, &user).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.code(), "queue_closed");
    app.advance(Duration::from_secs(5)).await;
    assert_eq!(statuses(&app, show, &waiting).await, ["waiting"]);
    app.configure_queue(show, json!({"paused": false})).await;
    app.advance(Duration::from_millis(100)).await;
    assert_eq!(statuses(&app, show, &waiting).await, ["active"]);
}

#[tokio::test]
async fn a_queue_token_for_another_show_is_403() {
    let app = spawn_app().await;
    let (one, two) = (app.create_show(1, 5).await, app.create_show(1, 5).await);
    let token = joined_users(&app, one, 1).await.remove(0);
    for (method, path) in [
        (Method::GET, format!("/v1/shows/{two}/queue")),
        (Method::DELETE, format!("/v1/shows/{two}/queue")),
        (Method::GET, format!("/v1/shows/{two}/seats")),
        (Method::GET, format!("/v1/shows/{two}/holds")),
    ] {
        let reply = app.call(method.clone(), &path, Some(&token), None).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(reply.code(), "wrong_show");
    }
}

#[tokio::test]
async fn admission_keeps_the_configured_rate_when_ticks_come_late() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    app.configure_queue(show, json!({"admit_per_second": 0.0})).await;
    joined_users(&app, show, 150).await;
    app.configure_queue(show, json!({"admit_per_second": 5.0, "max_active": 1000})).await;
    let started = app.state.sale.queue_store().counts(show).await.unwrap().admitted_total;
    // 20 s of a busy machine's ticks: every 100 to 400 ms, never on time.
    let mut elapsed = Duration::ZERO;
    for step in [130, 370, 240, 100, 310, 180, 400, 220, 150, 290].iter().cycle().take(80) {
        elapsed += Duration::from_millis(*step);
        app.advance(Duration::from_millis(*step)).await;
    }
    let admitted = app.state.sale.queue_store().counts(show).await.unwrap().admitted_total - started;
    let expected = 5.0 * elapsed.as_secs_f64();
    assert!((admitted as f64 - expected).abs() <= expected * 0.05 + 1.0, "{admitted} admitted in {elapsed:?} at 5/s");
}

/// Tests of how the Redis backend does it (its scripts, keys and caches); skipped when the
/// suite runs against the Postgres fallback.
mod on_redis {
    use super::*;

    #[tokio::test]
    async fn polls_of_waiting_users_never_reach_redis() {
        let (redis, app) = crate::support::spawn_app_on_own_redis().await;
        let show = app.create_show(1, 5).await;
        app.configure_queue(show, json!({"admit_per_second": 0.0})).await;
        let tokens = joined_users(&app, show, 20).await;
        let before = redis.command_calls();
        for token in &tokens {
            let reply = app.poll(show, token).await;
            assert_eq!(reply.body["status"], "waiting");
        }
        assert_eq!(redis.command_calls(), before, "waiting users' polls were answered from the cached cursor");
    }

    #[tokio::test]
    async fn joins_arriving_together_share_script_calls_and_each_keeps_its_own_place() {
        let (redis, app) = crate::support::spawn_app_on_own_redis().await;
        let show = app.create_show(1, 5).await;
        let users = join_all((0..200).map(|_| app.user())).await;
        let scripts_before = redis.calls_of("evalsha");
        let replies = join_all(users.iter().map(|(token, _)| app.join(show, token))).await;
        let calls = redis.calls_of("evalsha") - scripts_before;
        assert!(calls < 100, "200 joins at once took {calls} script calls");
        assert!(replies.iter().all(|r| r.status == StatusCode::CREATED));
        let mut places: Vec<(i64, uuid::Uuid)> = replies
            .iter()
            .map(|r| app.state.tokens.verify(&queue_token(r)).unwrap())
            .map(|claims| (claims.seq.unwrap(), claims.sub))
            .collect();
        places.sort();
        assert_eq!(places.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), (1..=200).collect::<Vec<_>>());
        let token_of: std::collections::HashMap<uuid::Uuid, &String> = users.iter().map(|(t, id)| (*id, t)).collect();
        for (seq, user) in &places {
            let again = app.join(show, token_of[user]).await;
            assert_eq!(
                (again.status, again.body["seq"].as_i64()),
                (StatusCode::OK, Some(*seq)),
                "the same place again"
            );
        }

        app.drain_events("worker").await;
        let entries: Vec<(i64, uuid::Uuid)> =
            sqlx::query_as("SELECT seq, user_id FROM queue_entries WHERE show_id = $1 ORDER BY seq")
                .bind(show)
                .fetch_all(&app.state.sale.db().pool)
                .await
                .unwrap();
        assert_eq!(entries, places, "one queue entry per user, with the seq they were told");
        let announced: Vec<(i64, uuid::Uuid)> = sqlx::query_as(
            "SELECT e.seq + u.ord - 1, u.id FROM write_behind_events e, UNNEST(e.user_ids) WITH ORDINALITY AS u(id, ord)
             WHERE e.show_id = $1 AND e.kind = 'join' ORDER BY 1",
        )
        .bind(show)
        .fetch_all(&app.state.sale.db().pool)
        .await
        .unwrap();
        assert_eq!(announced, places, "the join events name every user once, in seq order");
    }
}
